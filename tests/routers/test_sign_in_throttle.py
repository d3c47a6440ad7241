"""Sign-in throttling: wrong passwords slow the guesser down (a doubling, capped delay) instead
of locking the account, so nobody can keep its owner out; each network address has a limit of
its own, and a forwarded client address counts only when a configured proxy sent it."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.deps import get_now
from app.main import create_app
from app.models.auth import LoginAttempt
from app.models.user import Role
from app.services import auth as auth_service
from app.settings import Settings
from tests.conftest import NOW, PASSWORD, PASSWORD_HASH, _session, csrf, make_user

WRONG = "wrong password!"
GUESSER = ("203.0.113.9", 50000)
OWNER = ("198.51.100.7", 50000)
PROXY = ("10.0.0.2", 50000)


@pytest.fixture(autouse=True)
def _quick_unknown_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    # An unknown e-mail is checked against a full-strength hash (so that timing tells nothing);
    # here, with dozens of guesses per test, the test-strength one does.
    monkeypatch.setattr(auth_service, "dummy_hash", lambda: PASSWORD_HASH)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def clients(
    settings: Settings, connection: Any, engine: Engine, clock: Clock
) -> Iterator[ClientFactory]:
    """Clients of one app, each from a network address of its own."""
    opened: list[TestClient] = []
    apps: dict[str, Any] = {}

    def make(peer: tuple[str, int] = GUESSER, **overrides: Any) -> TestClient:
        key = repr(sorted(overrides.items()))
        if key not in apps:
            app = create_app(
                settings.model_copy(
                    update={"login_delay_seconds": 1, "login_max_delay_seconds": 4, **overrides}
                )
            )
            app.state.engine.dispose()
            app.state.session_factory = lambda: _session(connection)
            app.dependency_overrides[get_now] = lambda: clock.now
            apps[key] = app
        client = TestClient(apps[key], follow_redirects=False, client=peer)
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _login(client: TestClient, email: str, password: str, **headers: str) -> Response:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf(client), "next": "/"},
        headers=headers,
    )


def _failures(session: Session, **where: str) -> int:
    query = select(func.count()).select_from(LoginAttempt).where(~col(LoginAttempt.succeeded))
    for name, value in where.items():
        query = query.where(getattr(LoginAttempt, name) == value)
    return session.exec(query).one()


class TestAccountDelay:
    def test_admin_held_up_by_an_anonymous_guesser_signs_in_once_the_delay_passed(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        guesser = clients()
        for _ in range(5):
            assert _login(guesser, admin.email, WRONG).status_code == 401
        held = _login(guesser, admin.email, PASSWORD)
        assert held.status_code == 429
        assert held.headers["Retry-After"] == "1"
        assert "登录失败次数过多" in held.text
        assert "ronghe_session" not in guesser.cookies
        clock.advance(1)
        assert _login(guesser, admin.email, PASSWORD).status_code == 303

    def test_attempts_refused_during_the_delay_neither_count_nor_renew_it(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        guesser = clients()
        for _ in range(5):
            _login(guesser, admin.email, WRONG)
        for _ in range(30):
            clock.advance(0.02)
            assert _login(guesser, admin.email, WRONG).status_code == 429
        assert _failures(session, email=admin.email) == 5
        clock.advance(1)
        assert _login(guesser, admin.email, PASSWORD).status_code == 303

    def test_the_delay_doubles_with_each_failure_up_to_the_cap(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        user = make_user(session)
        guesser = clients()
        for _ in range(5):
            _login(guesser, user.email, WRONG)
        waits = []
        for _ in range(4):
            held = _login(guesser, user.email, WRONG)
            assert held.status_code == 429
            waits.append(int(held.headers["Retry-After"]))
            clock.advance(waits[-1])
            assert _login(guesser, user.email, WRONG).status_code == 401
        assert waits == [1, 2, 4, 4]

    def test_a_success_starts_the_count_afresh(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        user = make_user(session)
        client = clients()
        for _ in range(4):
            _login(client, user.email, WRONG)
        assert _login(client, user.email, PASSWORD).status_code == 303
        for _ in range(4):
            assert _login(client, user.email, WRONG).status_code == 401

    def test_the_answer_does_not_tell_whether_the_account_exists(
        self, clients: ClientFactory, session: Session
    ) -> None:
        user = make_user(session)
        answers = []
        for email in (user.email, "nobody-here@example.com"):
            client = clients()
            for _ in range(5):
                assert _login(client, email, WRONG).status_code == 401
            held = _login(client, email, WRONG)
            message = held.text.split('role="alert"')[1].split("<")[0]
            answers.append((held.status_code, held.headers["Retry-After"], message))
        assert answers[0] == answers[1]
        assert answers[0][0] == 429

    def test_a_guesser_elsewhere_does_not_hold_up_the_owner(
        self, clients: ClientFactory, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        guesser = clients(GUESSER)
        for _ in range(8):
            _login(guesser, admin.email, WRONG)
        assert _login(guesser, admin.email, PASSWORD).status_code == 429
        assert _login(clients(OWNER), admin.email, PASSWORD).status_code == 303

    def test_a_held_sign_in_in_english(self, clients: ClientFactory, session: Session) -> None:
        user = make_user(session)
        client = clients()
        for _ in range(5):
            _login(client, user.email, WRONG)
        held = _login(client, user.email, PASSWORD, **{"Accept-Language": "en"})
        assert held.status_code == 429
        assert "Too many failed sign-ins" in held.text


class TestAddressLimit:
    def test_twenty_failures_from_one_address_stop_it_whatever_the_accounts(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        user = make_user(session)
        client = clients()
        for n in range(20):
            _login(client, f"guess{n}@example.com", WRONG)
        held = _login(client, user.email, PASSWORD)
        assert held.status_code == 429
        assert "网络地址" in held.text
        assert int(held.headers["Retry-After"]) == 15 * 60
        assert _login(clients(OWNER), user.email, PASSWORD).status_code == 303
        clock.advance(15 * 60)
        assert _login(client, user.email, PASSWORD).status_code == 303

    def test_rotating_forwarded_for_from_an_untrusted_peer_does_not_escape_it(
        self, clients: ClientFactory, session: Session
    ) -> None:
        user = make_user(session)
        # A proxy is configured, but this peer is not it.
        client = clients(GUESSER, trusted_proxies="10.0.0.2")
        for n in range(20):
            _login(client, f"guess{n}@example.com", WRONG, **{"X-Forwarded-For": f"192.0.2.{n}"})
        held = _login(client, user.email, PASSWORD, **{"X-Forwarded-For": "192.0.2.99"})
        assert held.status_code == 429
        assert _failures(session, address=GUESSER[0]) == 20

    def test_forwarded_for_is_ignored_when_no_proxy_is_configured(
        self, clients: ClientFactory, session: Session
    ) -> None:
        client = clients(("127.0.0.1", 50000))
        for n in range(20):
            _login(client, f"guess{n}@example.com", WRONG, **{"X-Forwarded-For": f"192.0.2.{n}"})
        assert _failures(session, address="127.0.0.1") == 20

    def test_forwarded_for_from_a_configured_proxy_is_honoured(
        self, clients: ClientFactory, session: Session
    ) -> None:
        user = make_user(session)
        proxy = clients(PROXY, trusted_proxies="10.0.0.0/24")
        for n in range(20):
            _login(proxy, f"guess{n}@example.com", WRONG, **{"X-Forwarded-For": "192.0.2.66"})
        assert _failures(session, address="192.0.2.66") == 20
        refused = _login(proxy, user.email, PASSWORD, **{"X-Forwarded-For": "192.0.2.66"})
        assert refused.status_code == 429
        # Another client behind the same proxy is not stopped by the guesser's failures.
        other = _login(proxy, user.email, PASSWORD, **{"X-Forwarded-For": "192.0.2.77"})
        assert other.status_code == 303


def test_settings_read_trusted_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RONGHE_TRUSTED_PROXIES", "10.0.0.2, 10.1.0.0/16")
    assert Settings(environment="test").trusted_proxies == "10.0.0.2, 10.1.0.0/16"
    monkeypatch.delenv("RONGHE_TRUSTED_PROXIES")
    assert Settings(environment="test").trusted_proxies == ""
