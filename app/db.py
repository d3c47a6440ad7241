"""Database engine, the request session dependency and a session scope for jobs and the CLI."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

from app.settings import Settings

# The execution option under which every engine carries the settings it was built with.
ENGINE_SETTINGS = "ronghe_settings"


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
    # IMMEDIATE takes the write lock up front. With a plain (deferred) BEGIN two transactions
    # that both read and then write deadlock on the lock upgrade, and SQLite reports that at
    # once as "database is locked" without waiting for the busy timeout. Readers in WAL mode
    # are not blocked by it; writers queue for up to the timeout instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def release_write_lock(session: Session) -> None:
    """End the transaction the sign-in check opened before reading an upload's body.

    On SQLite every transaction holds the write lock (see _begin_sqlite), so a slow upload
    would stall every other request until it finished, and fail them after the busy timeout.
    """
    session.commit()


def get_session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    with factory() as session:
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
