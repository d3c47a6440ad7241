"""Signing in and out, first-run setup, throttling, CSRF, sessions."""

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, func, select

from app.models.auth import LoginAttempt, UserSession
from app.models.user import Role, User
from app.web.deps import get_now
from tests.factories import HX, NOW, PASSWORD, csrf, make_user, set_cookie, sign_in


def _login(client: TestClient, email: str, password: str, **headers: str) -> Response:
    response: Response = client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf(client),
            "next": "/requirements",
        },
        headers=headers,
    )
    return response


class TestLoginPage:
    def test_shows_chinese_form_by_default(self, client: TestClient, session: Session) -> None:
        make_user(session)
        response = client.get("/login")
        assert response.status_code == 200
        assert "登录" in response.text
        assert 'name="csrf_token"' in response.text

    def test_english_from_accept_language(self, client: TestClient, session: Session) -> None:
        make_user(session)
        response = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
        assert "Sign in" in response.text

    def test_redirects_to_setup_when_nobody_exists(
        self, client: TestClient, session: Session
    ) -> None:
        response = client.get("/login")
        assert response.status_code == 303
        assert response.headers["location"] == "/setup"

    def test_protected_page_redirects_to_login_with_next(self, client: TestClient) -> None:
        response = client.get("/requirements?status=planned")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/requirements%3Fstatus%3Dplanned"


class TestLogin:
    def test_correct_password_opens_a_session(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        response = _login(client, user.email, PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/requirements"
        cookie = response.headers.get_list("set-cookie")
        assert any(
            "ronghe_session=" in c and "HttpOnly" in c and "SameSite=lax" in c for c in cookie
        )
        assert client.get("/requirements").status_code == 200

    def test_htmx_login_answers_with_hx_redirect(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        response = _login(client, user.email, PASSWORD, **HX)
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/requirements"

    def test_wrong_password_is_401_in_chinese_and_keeps_the_email(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        response = _login(client, user.email, "wrong password!")
        assert response.status_code == 401
        assert "邮箱或密码不正确" in response.text
        assert user.email in response.text
        assert "ronghe_session" not in client.cookies

    def test_email_is_case_insensitive(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        assert _login(client, user.email.upper(), PASSWORD).status_code == 303

    def test_deactivated_user_cannot_sign_in(self, client: TestClient, session: Session) -> None:
        user = make_user(session, is_active=False)
        assert _login(client, user.email, PASSWORD).status_code == 401

    def test_next_cannot_leave_the_site(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        response = client.post(
            "/login",
            data={
                "email": user.email,
                "password": PASSWORD,
                "csrf_token": csrf(client),
                "next": "//evil.example/x",
            },
        )
        assert response.headers["location"] == "/"

    def test_over_long_email_is_rejected_with_422(
        self, client: TestClient, session: Session
    ) -> None:
        make_user(session)
        response = _login(client, "a" * 300 + "@example.com", PASSWORD)
        assert response.status_code == 422
        assert "Traceback" not in response.text


class TestThrottling:
    def test_account_held_up_after_five_failures(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        # Frozen time: the first delay (a second) must not run out during the test.
        app.dependency_overrides[get_now] = lambda: NOW
        user = make_user(session)
        for _ in range(5):
            assert _login(client, user.email, "wrong password!").status_code == 401
        response = _login(client, user.email, PASSWORD)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert "登录失败次数过多" in response.text
        assert "ronghe_session" not in client.cookies

    def test_failures_on_other_accounts_do_not_lock_this_one(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        for n in range(5):
            _login(client, f"nobody{n}@example.com", "wrong password!")
        assert _login(client, user.email, PASSWORD).status_code == 303

    def test_address_blocked_after_twenty_failures(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        for n in range(20):
            _login(client, f"guess{n}@example.com", "wrong password!")
        response = _login(client, user.email, PASSWORD)
        assert response.status_code == 429
        assert "网络地址" in response.text

    def test_attempts_are_recorded(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        _login(client, user.email, "wrong password!")
        _login(client, user.email, PASSWORD)
        rows = session.exec(
            select(LoginAttempt.succeeded).where(LoginAttempt.email == user.email)
        ).all()
        assert sorted(rows) == [False, True]


class TestCsrf:
    def test_login_without_token_is_refused(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 403
        assert "表单已过期" in response.text

    def test_token_of_another_cookie_is_refused(self, client: TestClient, session: Session) -> None:
        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)
        token = csrf(client)
        set_cookie(client, "ronghe_csrf", "a-different-cookie")
        response = client.post(
            "/admin/departments", data={"name": "X", "code": "X", "csrf_token": token}
        )
        assert response.status_code == 403

    def test_htmx_header_token_is_accepted(self, client: TestClient, session: Session) -> None:
        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)
        response = client.post(
            "/admin/departments",
            data={"name": "质量部", "code": "QA1"},
            headers={**HX, "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/admin/departments"

    def test_csrf_cookie_rotates_at_login(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        csrf(client)
        before = client.cookies.get("ronghe_csrf")
        _login(client, user.email, PASSWORD)
        assert client.cookies.get("ronghe_csrf") not in (None, before)


class TestSessions:
    def test_logout_deletes_the_server_session(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        stolen = client.cookies.get("ronghe_session")
        response = client.post("/logout", data={"csrf_token": csrf(client)})
        assert response.status_code == 303
        count = session.exec(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
        ).one()
        assert count == 0
        set_cookie(client, "ronghe_session", stolen or "")
        assert client.get("/").status_code == 303

    def test_expired_session_says_so(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        row = session.exec(select(UserSession).where(UserSession.user_id == user.id)).one()
        row.expires_at = row.created_at - timedelta(minutes=1)
        session.add(row)
        session.commit()
        response = client.get("/requirements")
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
        assert "会话已过期" in client.get(response.headers["location"]).text

    def test_expired_session_on_htmx_post_is_401_with_redirect(
        self, client: TestClient, session: Session
    ) -> None:
        set_cookie(client, "ronghe_session", "not-a-session")
        response = client.post(
            "/account/tokens", data={"name": "x"}, headers={**HX, "X-CSRF-Token": csrf(client)}
        )
        assert response.status_code == 401
        assert response.headers["HX-Redirect"].startswith("/login")

    def test_expired_session_on_form_post_is_401_page(
        self, client: TestClient, session: Session
    ) -> None:
        set_cookie(client, "ronghe_session", "not-a-session")
        response = client.post("/account/tokens", data={"name": "x", "csrf_token": csrf(client)})
        assert response.status_code == 401
        assert "请登录" in response.text


class TestSetup:
    def test_first_run_creates_the_admin(self, client: TestClient, session: Session) -> None:
        response = client.post(
            "/setup",
            data={
                "name": "王建国",
                "email": "Boss@Example.com",
                "password": "0123456789a",
                "password_confirm": "0123456789a",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 303
        user = session.exec(select(User).where(User.email == "boss@example.com")).one()
        assert user.name == "王建国"
        assert client.get("/admin/users").status_code == 200

    def test_mismatch_and_short_password_shown_next_to_fields(
        self, client: TestClient, session: Session
    ) -> None:
        response = client.post(
            "/setup",
            data={
                "name": "",
                "email": "not-an-email",
                "password": "short",
                "password_confirm": "other",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 422
        assert 'id="name-error"' in response.text
        assert "此项为必填项" in response.text
        assert 'id="email-error"' in response.text
        assert 'id="password_confirm-error"' in response.text
        assert session.exec(select(func.count()).select_from(User)).one() == 0

    def test_setup_is_gone_once_a_user_exists(self, client: TestClient, session: Session) -> None:
        make_user(session)
        assert client.get("/setup").status_code == 404
        response = client.post(
            "/setup",
            data={
                "name": "x",
                "email": "x@example.com",
                "password": "0123456789a",
                "password_confirm": "0123456789a",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 404
        assert session.exec(select(func.count()).select_from(User)).one() == 1


class TestLocale:
    def test_switch_to_english_is_remembered_for_the_user(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        assert "要求条款" in client.get("/requirements").text
        response = client.post(
            "/locale", data={"locale": "en", "next": "/requirements", "csrf_token": csrf(client)}
        )
        assert response.status_code == 303
        assert "Requirements" in client.get("/requirements").text
        session.refresh(user)
        assert user.locale == "en"

    def test_unknown_locale_is_404(self, client: TestClient) -> None:
        response = client.post("/locale", data={"locale": "fr", "csrf_token": csrf(client)})
        assert response.status_code == 404


def test_security_headers_on_every_page(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
