"""Reads never wait for writes: a page that only reads is served while another transaction
holds the write lock, a change waits its turn instead of failing, and a reading request that
writes without saying so is caught."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, func, select

from app.db import (
    WriteWhileReading,
    begin_writing,
    commit_aside,
    make_engine,
    release_write_lock,
    serve_request,
)
from app.main import create_app
from app.models.evidence import Evidence
from app.models.user import Role, User
from app.settings import Settings
from tests.factories import NOW, csrf, make_user, sign_in


def _hold_write_lock(connection: Connection) -> None:
    """What a long change holds: SQLite's one write lock, PostgreSQL's table lock against
    other writers (readers are let through by both)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("SELECT 1")  # the engine begins with BEGIN IMMEDIATE
    else:
        connection.exec_driver_sql("LOCK TABLE evidence IN EXCLUSIVE MODE")


@pytest.fixture
def served(fresh_settings: Settings) -> Iterator[tuple[TestClient, Engine]]:
    """The app on a database of its own, with real commits, and a signed-in administrator."""
    app = create_app(fresh_settings)
    engine: Engine = app.state.engine
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        with Session(engine) as setup:
            sign_in(client, setup, make_user(setup, roles=[Role.admin]))
        yield client, engine
    engine.dispose()


def test_a_page_is_served_while_another_request_holds_the_write_lock(
    served: tuple[TestClient, Engine],
) -> None:
    client, engine = served
    with engine.connect() as writer:
        _hold_write_lock(writer)
        try:
            started = time.monotonic()
            page = client.get("/evidence")
            waited = time.monotonic() - started
        finally:
            writer.rollback()
    assert page.status_code == 200
    assert "证据" in page.text
    # Waiting for the lock would take the 30 s busy timeout (and then fail).
    assert waited < 10


def test_a_change_waits_for_the_lock_and_then_succeeds(
    served: tuple[TestClient, Engine],
) -> None:
    client, engine = served
    answers: list[Any] = []
    with engine.connect() as writer:
        _hold_write_lock(writer)
        try:
            change = threading.Thread(
                target=lambda: answers.append(
                    client.post(
                        "/evidence",
                        data={"csrf_token": csrf(client), "title": "信息安全管理制度"},
                    )
                )
            )
            change.start()
            change.join(timeout=1.0)
            assert change.is_alive(), "the change did not wait for the lock"
        finally:
            writer.rollback()
        change.join(timeout=30)
    assert len(answers) == 1
    assert answers[0].status_code == 303, answers[0].text[:500]
    with Session(engine) as check:
        assert check.exec(select(func.count()).select_from(Evidence)).one() == 1


def test_a_reading_request_that_writes_without_saying_so_is_refused(engine: Engine) -> None:
    with Session(engine) as session:
        serve_request(session, method="GET")
        session.add(User(name="读者", email="reader@example.com", password_hash="x"))
        with pytest.raises(WriteWhileReading):
            session.flush()
        session.rollback()


def test_begin_writing_lets_a_reading_request_write(fresh_settings: Settings) -> None:
    engine = make_engine(fresh_settings)
    try:
        with Session(engine) as session:
            serve_request(session, method="GET")
            assert session.exec(select(func.count()).select_from(Evidence)).one() == 0
            begin_writing(session)
            make_user(session, roles=[Role.owner])
            session.commit()
            # Committed: the request reads on without the lock, and a further write has to
            # say so again.
            assert session.execute(text("SELECT 1")).scalar_one() == 1
            with pytest.raises(WriteWhileReading):
                make_user(session)
    finally:
        engine.dispose()


def _write_lock_is_held(engine: Engine) -> bool:
    """Whether another connection could start writing now (SQLite's one write lock)."""
    other = sqlite3.connect(engine.url.database or "", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        other.close()
    return False


@pytest.mark.parametrize(
    "how", ["post, committed early, writes again", "get, writes before reading", "upload"]
)
def test_a_write_after_a_commit_or_before_a_read_holds_the_lock_while_it_reads(
    fresh_settings: Settings, how: str
) -> None:
    """What a request reads before it writes is read under the write lock, so no other
    writer can slip in between (and SQLite would then refuse the write at once)."""
    engine = make_engine(fresh_settings)
    if engine.dialect.name != "sqlite":
        engine.dispose()
        pytest.skip("PostgreSQL locks the rows it writes; there is no database write lock")
    try:
        with Session(engine) as session:
            serve_request(session, method="GET" if how.startswith("get") else "POST")
            if how.startswith("post"):
                session.execute(text("SELECT 1"))
                commit_aside(session)  # the sign-in's sliding expiry, say
            elif how == "upload":
                session.execute(text("SELECT 1"))
                release_write_lock(session)  # the body arrives without the lock …
                assert not _write_lock_is_held(engine)
            begin_writing(session)  # … and the write phase begins
            assert session.exec(select(func.count()).select_from(Evidence)).one() == 0
            assert _write_lock_is_held(engine)
            session.add(Evidence(title="制度", created_at=NOW, updated_at=NOW))
            session.commit()
            assert not _write_lock_is_held(engine)
    finally:
        engine.dispose()
