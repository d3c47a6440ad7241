"""A real `ronghe serve` (uvicorn, its access log, its proxy handling), driven over HTTP:
secret-bearing addresses reach its log blanked, and a local peer's X-Forwarded-For neither
changes the logged client nor lets a guesser escape the per-address sign-in limit (the log
says once that it was ignored).

The server has a database of its own (a SQLite file, or a database on the PostgreSQL server
of TEST_DATABASE_URL), because it really commits."""

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from app.db import make_engine
from app.security import new_token
from app.services.reminders import notifications as notification_service
from tests.factories import (
    add_admin,
    free_port,
    make_settings,
    migrate,
    new_database,
    server_env,
    wait_until,
)

pytestmark = pytest.mark.slow

EMAIL = "li.na@example.com"


@dataclass
class Served:
    url: str
    log: Path
    calendar: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def log_once(self, line: str) -> str:
        """The log, once it holds this text: uvicorn writes the line after the answer."""
        wait_until(lambda: line in self.log.read_text(encoding="utf-8"), f"never logged: {line}")
        return self.log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # One server for the module: starting one takes seconds.
    root = tmp_path_factory.mktemp("served")
    settings = make_settings(root / "data", new_database(root, "served_logs"))
    engine = make_engine(settings)
    migrate(engine, settings)
    with Session(engine) as session:
        user = add_admin(session, "李娜", EMAIL)
        calendar = notification_service.reset_calendar_token(session=session, user_id=user.id or 0)
        session.commit()
    engine.dispose()
    url = f"http://127.0.0.1:{free_port()}"
    env = server_env(settings, PYTHONUNBUFFERED="1", RONGHE_LOGIN_MAX_FAILURES_PER_ADDRESS="3")
    env.pop("RONGHE_TRUSTED_PROXIES", None)
    log = root / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", url.rsplit(":", 1)[1]],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Served(url, log, calendar, process)

    def up() -> bool:
        if process.poll() is not None:
            pytest.fail(log.read_text(encoding="utf-8"))
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, "the server did not start", seconds=60)
        yield server
    finally:
        server.stop()


def test_secret_addresses_are_blanked_in_the_access_log(served: Served) -> None:
    unknown_calendar, assessor, api_token = new_token(), new_token("ra_"), new_token("rh_")
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get(f"/calendar/{served.calendar}.ics").status_code == 200
        assert client.get(f"/calendar/{unknown_calendar}.ics").status_code == 404
        assert client.get(f"/calendar/{served.calendar}").status_code == 404
        assert client.get(f"/assessor/{assessor}").status_code in {403, 404}
        assert client.get(f"/assessor/{assessor}/file?path=a.pdf").status_code in {403, 404}
        assert client.get(f"/api/v1/me?token={api_token}").status_code == 401
    log = served.log_once("/api/v1/me?token=")
    for secret in (served.calendar, unknown_calendar, assessor, api_token):
        assert secret not in log
    assert '"GET /calendar/….ics HTTP/1.1" 200' in log
    assert '"GET /calendar/….ics HTTP/1.1" 404' in log
    assert '"GET /assessor/…/file?path=a.pdf HTTP/1.1"' in log
    assert '"GET /api/v1/me?token=… HTTP/1.1" 401' in log


def test_a_local_peer_cannot_rotate_forwarded_for_past_the_address_limit(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None
        statuses = [
            client.post(
                "/login",
                data={
                    "email": f"guess{n}@example.com",
                    "password": "wrong password!",
                    "csrf_token": match.group(1),
                },
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            ).status_code
            for n in range(4)
        ]
        refused = client.post(
            "/login",
            data={"email": EMAIL, "password": "x", "csrf_token": match.group(1)},
            headers={"X-Forwarded-For": "192.0.2.200"},
        )
    assert statuses == [401, 401, 401, 429]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    log = served.log_once('"POST /login HTTP/1.1" 429')
    assert "192.0.2." not in log
    assert re.search(r'127\.0\.0\.1:\d+ - "POST /login HTTP/1.1" 429', log)
    # The operator learns why, once rather than on every request.
    assert log.count("X-Forwarded-For from 127.0.0.1 ignored") == 1
    assert "RONGHE_TRUSTED_PROXIES" in log
