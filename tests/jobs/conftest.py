"""Real services for the reminder tests: an SMTP sink, a webhook receiver, a fresh database."""

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.settings import Settings
from tests.conftest import make_settings, migrate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Sink:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Received:
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0})
    # Sent instead of `answer` when set: a page an internal service might answer with.
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


# The listener below is on loopback, which outbound requests may only reach when its name is
# allowed (RONGHE_OUTBOUND_ALLOWED_HOSTS); tests that need a delivery to arrive allow it.
LISTENER_HOST = "localhost"


def allow_listener(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allowed_hosts": LISTENER_HOST})


@pytest.fixture
def webhook_server() -> Iterator[tuple[Received, str]]:
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
def fresh_settings(tmp_path: Path) -> Settings:
    """A database of its own, migrated, for tests that need real commits from several processes."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base is None:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        name = "ronghe_fresh"
        admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    settings = make_settings(tmp_path / "data", url)
    from app.db import make_engine

    engine = make_engine(settings)
    migrate(engine, settings)
    engine.dispose()
    return settings
