"""Test harness: a database built by the real migrations, one rolled-back transaction per test.

SQLite by default; set TEST_DATABASE_URL (scripts/with-postgres.sh does) to run the same
suite on a real PostgreSQL server. Shared helpers and factories live in tests/factories.py.
"""

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.db import make_engine
from app.i18n import LOCALE_DIR
from app.main import create_app
from app.settings import Settings
from tests.factories import (
    LISTENER_HOST,
    Ready,
    Received,
    WebhookServer,
    bound_session,
    database_url,
    free_port,
    make_ready,
    make_settings,
    migrate,
    new_database,
    prepare_database,
)


def pytest_configure(config: pytest.Config) -> None:
    compile_catalogues(LOCALE_DIR)


def compile_catalogues(locales: Path) -> None:
    """What `make messages` does, for a checkout where it has not run (the .mo files are not
    in git): compile each catalogue whose .mo is missing or older than its .po."""
    for po in sorted(locales.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalogue = read_po(source, locale=po.parents[1].name)
        partial = mo.with_name(f".{mo.name}.{os.getpid()}")
        with partial.open("wb") as target:
            write_mo(target, catalogue)
        partial.replace(mo)  # whole or not at all, for a test run reading it meanwhile


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("ronghe")
    return make_settings(root / "data", database_url(root))


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = prepare_database(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Any]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: Any) -> Iterator[Session]:
    with bound_session(connection) as s:
        yield s


@pytest.fixture
def app(settings: Settings, connection: Any, engine: Engine) -> FastAPI:
    application = create_app(settings)
    application.state.engine.dispose()
    application.state.session_factory = lambda: bound_session(connection)
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Settings:
    """A database of its own, migrated, for tests that need real commits from several processes."""
    settings = make_settings(tmp_path / "data", new_database(tmp_path, "ronghe_fresh"))
    engine = make_engine(settings)
    migrate(engine, settings)
    engine.dispose()
    return settings


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """A webhook receiver on loopback: what it was sent, and its base URL."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body}
            )
            payload = received.raw or json.dumps(received.answer).encode()
            self.send_response(received.status)
            self.send_header("Content-Type", "application/json")
            for name, value in received.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://{LISTENER_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def ready(session: Session) -> Ready:
    """An organization ready to apply for certification (see make_ready)."""
    return make_ready(session)
