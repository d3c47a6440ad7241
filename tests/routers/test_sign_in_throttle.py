"""Sign-in throttling: wrong passwords on an account slow every unknown browser down (a
doubling, capped delay, whatever their addresses) instead of locking the account; a browser
that signed in to it before is counted apart, so nobody can keep the owner out. Each network
address (IPv6: each /64) has a limit of its own, which a known browser is not held to, and a
forwarded client address counts only when a configured proxy sent it."""

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, func, select

from app.errors import DomainError
from app.main import create_app
from app.models.auth import LoginAttempt
from app.models.user import Role
from app.routers import auth as auth_router
from app.services.accounts import auth as auth_service
from app.settings import Settings
from app.web.deps import get_now
from tests.factories import (
    NOW,
    PASSWORD,
    PASSWORD_HASH,
    SECRET,
    bound_session,
    csrf,
    make_user,
    set_cookie,
)

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
            app.state.session_factory = lambda: bound_session(connection)
            app.dependency_overrides[get_now] = lambda: clock.now
            apps[key] = app
        client = TestClient(apps[key], follow_redirects=False, client=peer)
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _login(client: TestClient, email: str, password: str, **headers: str) -> Response:
    response: Response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf(client), "next": "/"},
        headers=headers,
    )
    return response


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

    def test_a_guesser_pausing_less_than_the_window_gets_no_free_tries_back(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        # Failures stay "in a row" until the account has seen none for the window (15 min):
        # guessing every ten minutes never ages the earlier ones out.
        user = make_user(session)
        for _ in range(5):
            _login(clients(), user.email, WRONG)
        for _ in range(3):
            clock.advance(10 * 60)
            assert _login(clients(), user.email, WRONG).status_code == 401
            assert _login(clients(), user.email, PASSWORD).status_code == 429
        clock.advance(15 * 60)
        assert _login(clients(), user.email, PASSWORD).status_code == 303

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

    def test_a_guesser_rotating_addresses_is_held_up_on_the_account(
        self, clients: ClientFactory, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        for n in range(5):
            assert _login(clients((f"203.0.113.{n}", 50000)), admin.email, WRONG).status_code == 401
        held = _login(clients(("192.0.2.44", 50000)), admin.email, PASSWORD)
        assert held.status_code == 429
        assert held.headers["Retry-After"] == "1"
        assert _failures(session, email=admin.email) == 5

    def test_a_held_sign_in_in_english(self, clients: ClientFactory, session: Session) -> None:
        user = make_user(session)
        client = clients()
        for _ in range(5):
            _login(client, user.email, WRONG)
        held = _login(client, user.email, PASSWORD, **{"Accept-Language": "en"})
        assert held.status_code == 429
        assert "Too many failed sign-ins" in held.text


def _known_browser(
    clients: ClientFactory, clock: Clock, email: str, peer: tuple[str, int] = OWNER
) -> TestClient:
    """A client that signed in to this account a minute ago (and signed out again)."""
    owner = clients(peer)
    assert _login(owner, email, PASSWORD).status_code == 303
    owner.post("/logout", data={"csrf_token": csrf(owner)})
    assert "ronghe_session" not in owner.cookies
    clock.advance(60)
    return owner


class TestKnownBrowser:
    def test_the_owner_signs_in_from_a_known_browser_while_a_guesser_is_held_up(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        owner = _known_browser(clients, clock, admin.email)
        for n in range(8):
            _login(clients((f"203.0.113.{n}", 50000)), admin.email, WRONG)
        assert _login(clients(GUESSER), admin.email, PASSWORD).status_code == 429
        assert _login(owner, admin.email, PASSWORD).status_code == 303

    def test_the_device_cookie_is_long_lived_and_out_of_reach_of_scripts(
        self, clients: ClientFactory, session: Session
    ) -> None:
        user = make_user(session)
        signed_in = _login(clients(OWNER, secure_cookies=True), user.email, PASSWORD)
        cookie = next(
            value
            for value in signed_in.headers.get_list("set-cookie")
            if value.startswith("ronghe_device=")
        )
        attributes = cookie.lower()
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "secure" in attributes
        assert "max-age=31536000" in attributes

    def test_a_known_browser_is_held_up_by_its_own_failures_only(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        user = make_user(session)
        owner = _known_browser(clients, clock, user.email)
        for _ in range(5):
            assert _login(owner, user.email, WRONG).status_code == 401
        assert _login(owner, user.email, PASSWORD).status_code == 429
        # Its typos are its own: an unknown browser still has its free tries.
        assert _login(clients(GUESSER), user.email, WRONG).status_code == 401

    def test_a_forged_device_cookie_gives_no_exemption(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        genuine = _known_browser(clients, clock, admin.email).cookies["ronghe_device"]
        user_id, device, proof = genuine.split(".")
        forged = [
            f"{user_id}.{device}.{'A' * len(proof)}",
            f"{user_id}.{'B' * len(device)}.{proof}",
        ]
        for n in range(5):
            _login(clients((f"203.0.113.{n}", 50000)), admin.email, WRONG)
        for value in forged:
            guesser = clients(GUESSER)
            set_cookie(guesser, "ronghe_device", value)
            assert _login(guesser, admin.email, PASSWORD).status_code == 429

    @pytest.mark.parametrize(
        "value",
        ["9" * 5000 + ".x.y", "1." + "x" * 500 + ".y", "1.x.\u00e9", "~~..~", "1.2.3.4"],
    )
    def test_a_malformed_device_cookie_counts_as_an_unknown_browser(
        self, clients: ClientFactory, session: Session, value: str
    ) -> None:
        user = make_user(session)
        for n in range(5):
            _login(clients((f"203.0.113.{n}", 50000)), user.email, WRONG)
        guesser = clients(GUESSER)
        token = csrf(guesser)
        # Sent as raw bytes: a browser may send any, and the test client encodes only ASCII.
        cookies = f"ronghe_csrf={guesser.cookies['ronghe_csrf']}; ronghe_device={value}"
        held = guesser.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
            headers={"Cookie": cookies.encode("latin-1")},
        )
        assert held.status_code == 429

    def test_another_accounts_device_cookie_gives_no_exemption(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        insider = make_user(session)
        guesser = _known_browser(clients, clock, insider.email, GUESSER)
        for _ in range(5):
            assert _login(guesser, admin.email, WRONG).status_code == 401
        assert _login(guesser, admin.email, PASSWORD).status_code == 429
        for n in range(15):
            _login(guesser, f"guess{n}@example.com", WRONG)
        assert "网络地址" in _login(guesser, insider.email + "x", WRONG).text

    def test_one_browser_is_known_for_several_accounts(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        first, second = make_user(session), make_user(session)
        browser = _known_browser(clients, clock, first.email)
        assert _login(browser, second.email, PASSWORD).status_code == 303
        for n in range(5):
            _login(clients((f"203.0.113.{n}", 50000)), first.email, WRONG)
        assert _login(browser, first.email, PASSWORD).status_code == 303


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

    def test_a_known_browser_behind_the_same_address_is_not_stopped(
        self, clients: ClientFactory, session: Session, clock: Clock
    ) -> None:
        user = make_user(session)
        colleague = _known_browser(clients, clock, user.email, GUESSER)
        guesser = clients(GUESSER)
        for n in range(20):
            _login(guesser, f"guess{n}@example.com", WRONG)
        assert "网络地址" in _login(guesser, user.email, PASSWORD).text
        assert _login(colleague, user.email, PASSWORD).status_code == 303

    def test_ipv6_addresses_of_one_64_network_count_as_one(
        self, clients: ClientFactory, session: Session
    ) -> None:
        user = make_user(session)
        for n in range(20):
            guesser = clients((f"2001:db8:1:2::{n:x}", 50000))
            assert _login(guesser, f"guess{n}@example.com", WRONG).status_code == 401
        held = _login(clients(("2001:db8:1:2:ffff::1", 50000)), user.email, PASSWORD)
        assert held.status_code == 429
        assert "网络地址" in held.text
        assert _login(clients(("2001:db8:1:3::1", 50000)), user.email, PASSWORD).status_code == 303

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


class TestConcurrentGuesses:
    def test_a_burst_of_simultaneous_guesses_gets_only_the_free_tries(
        self, engine: Engine, settings: Settings
    ) -> None:
        # Real transactions on connections of their own, as concurrent requests have: each
        # guess checks the throttle, then records its failure and commits.
        email, address, guesses = "burst-target@example.com", "198.18.0.1", 16
        policy = auth_service.ThrottlePolicy.from_settings(settings)
        start = threading.Barrier(guesses)

        def guess() -> int:
            with Session(engine) as own:
                start.wait()
                try:
                    auth_service.authenticate(
                        session=own,
                        now=NOW,
                        email=email,
                        password=WRONG,
                        address=address,
                        device_cookie=None,
                        secret=SECRET,
                        policy=policy,
                    )
                except DomainError as exc:
                    own.commit()
                    return exc.status_code
                return 200

        try:
            with ThreadPoolExecutor(guesses) as pool:
                answers = list(pool.map(lambda _: guess(), range(guesses)))
        finally:
            with Session(engine) as cleanup:
                cleanup.exec(delete(LoginAttempt).where(col(LoginAttempt.email) == email))
                cleanup.commit()
        assert sorted(answers) == [401] * 5 + [429] * (guesses - 5)


class TestForwardedForWarning:
    @pytest.fixture(autouse=True)
    def _not_yet_warned(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(auth_router, "_forwarded_warned_at", None)

    def test_an_ignored_forwarded_for_is_reported_once(
        self, clients: ClientFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = clients(("127.0.0.1", 50000))
        with caplog.at_level(logging.WARNING, logger="app.routers.auth"):
            for n in range(3):
                _login(client, f"guess{n}@example.com", WRONG, **{"X-Forwarded-For": "192.0.2.1"})
        warnings = [r for r in caplog.records if "RONGHE_TRUSTED_PROXIES" in r.getMessage()]
        assert len(warnings) == 1
        assert "127.0.0.1" in warnings[0].getMessage()

    def test_a_configured_proxys_forwarded_for_is_not_reported(
        self, clients: ClientFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        proxy = clients(PROXY, trusted_proxies="10.0.0.0/24")
        with caplog.at_level(logging.WARNING, logger="app.routers.auth"):
            _login(proxy, "guess@example.com", WRONG, **{"X-Forwarded-For": "192.0.2.66"})
        assert not [r for r in caplog.records if "RONGHE_TRUSTED_PROXIES" in r.getMessage()]
