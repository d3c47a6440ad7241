"""Database engine, the request session dependency and a session scope for jobs and the CLI.

A request that only reads (GET, HEAD, OPTIONS) runs its transactions read-only: on SQLite they
take no lock, so in WAL mode they run beside one writer and never wait for it (on PostgreSQL,
where reads never wait anyway, only the check below applies). Any other request
begins with the write lock and reads without it once it has committed, so the page drawn after
a change does not hold up the next writer. A request that has to write after reading says so
with `begin_writing`; a write without it is refused while the tests run (see _refuse).
"""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from app.settings import Settings

# The execution option under which every engine carries the settings it was built with.
ENGINE_SETTINGS = "ronghe_settings"
# The execution option of the engine whose SQLite transactions begin without the write lock.
READ_ONLY = "ronghe_read_only"
# Request methods that only read (the "safe" methods of RFC 9110).
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Session.info keys: the session serves a request; its transaction may write; the engine it
# writes through (its reading facade is _reading of it).
_REQUEST = "ronghe_request"
_WRITES = "ronghe_writes"
_ENGINE = "ronghe_engine"

log = logging.getLogger(__name__)


def make_engine(settings: Settings) -> Engine:
    url = settings.effective_database_url
    # Every session on the engine can find the settings it was built with: the activity log
    # reads its key through them, whichever code path records an event.
    options = {ENGINE_SETTINGS: settings}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            execution_options=options,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, execution_options=options
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own implicit transactions break SAVEPOINT and defer BEGIN past
    # reads; SQLAlchemy emits BEGIN itself instead (see _begin_sqlite).
    dbapi_connection.isolation_level = None
    # WAL lets readers run while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # Deferred: no lock is taken; in WAL mode the transaction reads a snapshot.
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock up front. With a plain (deferred) BEGIN two transactions
    # that both read and then write deadlock on the lock upgrade, and SQLite reports that at
    # once as "database is locked" without waiting for the busy timeout. Writers queue for up
    # to the timeout instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@cache
def _reading(engine: Engine) -> Engine:
    """The same engine and pool, its transactions begun read-only."""
    return engine.execution_options(**{READ_ONLY: True})


def serve_request(session: Session, *, method: str) -> None:
    """Mark a request's session, reading or writing by the request's method."""
    session.info[_REQUEST] = True
    if isinstance(session.bind, Engine):
        session.info[_ENGINE] = session.bind
    _set_writes(session, method not in READING_METHODS)


def begin_writing(session: OrmSession) -> None:
    """Let a request that has been reading write from here on.

    On SQLite the read snapshot ends and the write lock is taken (waiting up to the busy
    timeout if another request holds it). What the request read before may have changed in
    between, and loaded objects are not expired: a write that depends on a read re-reads
    after this call (`session.refresh`, or call it before reading).
    """
    if session.info.get(_WRITES, True):
        return
    engine = session.info.get(_ENGINE)
    if engine is not None and engine.dialect.name == "sqlite" and session.in_transaction():
        # The transaction goes on, on the same connection, now holding the lock.
        connection = session.connection()
        connection.exec_driver_sql("COMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    _set_writes(session, True)


def commit_aside(session: OrmSession) -> None:
    """Commit a small write made on the way in (a sign-in's sliding expiry, a token's last
    use) and go on reading or writing as the request began."""
    writes = session.info.get(_WRITES, True)
    begin_writing(session)
    session.commit()
    _set_writes(session, writes)


def release_write_lock(session: Session) -> None:
    """End the transaction the sign-in check opened before an upload's body is read: a slow
    upload must not hold the write lock. The request writes again after begin_writing."""
    session.commit()


def _set_writes(session: OrmSession, writes: bool) -> None:
    session.info[_WRITES] = writes
    # A session takes a connection per bind: a new bind in the middle of a transaction would
    # open a second one, which then waits for the lock the first holds.
    if not session.in_transaction():
        _bind_as_set(session)


def _bind_as_set(session: OrmSession) -> None:
    # A test's session is bound to one connection inside the test's transaction (no engine
    # kept): it keeps that connection, and only the check below applies.
    engine = session.info.get(_ENGINE)
    if engine is not None:
        session.bind = engine if session.info[_WRITES] else _reading(engine)


@event.listens_for(Session, "after_commit")
def _read_after_commit(session: OrmSession) -> None:
    # Fired for savepoints too; only the end of the whole transaction releases the lock.
    if session.info.get(_REQUEST) and session.get_nested_transaction() is None:
        _set_writes(session, False)


@event.listens_for(Session, "after_transaction_end")
def _rebind(session: OrmSession, transaction: SessionTransaction) -> None:
    if session.info.get(_REQUEST) and transaction.parent is None:
        _bind_as_set(session)


@event.listens_for(Session, "before_flush")
def _check_flush(session: OrmSession, _context: Any, _instances: Any) -> None:
    if session.info.get(_WRITES, True):
        return
    if session.new or session.deleted or any(session.is_modified(o) for o in session.dirty):
        _refuse(session, "flush")


@event.listens_for(Session, "do_orm_execute")
def _check_statement(state: ORMExecuteState) -> None:
    if state.session.info.get(_WRITES, True):
        return
    if state.is_insert or state.is_update or state.is_delete:
        _refuse(state.session, type(state.statement).__name__)


class WriteWhileReading(RuntimeError):
    """A request wrote without begin_writing."""


def _refuse(session: OrmSession, what: str) -> None:
    bind = session.bind
    settings = bind.get_execution_options().get(ENGINE_SETTINGS) if bind is not None else None
    if isinstance(settings, Settings) and settings.environment == "production":
        # A path the tests missed: the write still happens, as it did before reads were
        # separated, and the log says where begin_writing is missing.
        log.warning("a reading request wrote (%s) without begin_writing", what)
        begin_writing(session)
        return
    raise WriteWhileReading(f"{what} in a reading request: call app.db.begin_writing first")


async def get_session(request: Request) -> AsyncIterator[Session]:
    # On the event loop, not in the threadpool: opening a session does no I/O (the connection
    # comes with the first statement, in the handler's thread), and the two thread hops a
    # plain generator costs were a tenth of a small API call. Closing it returns the
    # connection to the pool: a rollback at most.
    factory = request.app.state.session_factory
    with factory() as session:
        serve_request(session, method=request.method)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error: the job and CLI boundary."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
