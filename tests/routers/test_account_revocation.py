"""What a user leaves behind (API tokens, the calendar address) ends with their password or
their account: a deactivated user's feed is dead, and a changed password is a fresh start."""

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, select

from app.models.api_token import ApiToken
from app.models.notification import NotificationPreference
from app.models.user import Role, User
from tests.factories import PASSWORD, csrf, make_user, sign_in

NEW_PASSWORD = "a brand new secret"


def _issue_token_and_feed(client: TestClient, session: Session, user: User) -> tuple[str, str]:
    """As the user does it on the account page: an API token and a calendar address."""
    sign_in(client, session, user)
    page = client.post("/account/tokens", data={"name": "ERP", "csrf_token": csrf(client)})
    token = page.text.split('id="new-token">')[1].split("<")[0]
    page = client.post("/account/calendar", data={"csrf_token": csrf(client)})
    feed = page.text.split('id="calendar-url">')[1].split("<")[0].split("8000", 1)[1]
    return token, feed


def _token_works(client: TestClient, token: str) -> bool:
    response: Response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def _feed_works(client: TestClient, feed: str) -> bool:
    with TestClient(client.app, follow_redirects=False) as anonymous:
        response: Response = anonymous.get(feed)
        return response.status_code == 200


def _set_active(
    client: TestClient, session: Session, admin: User, user: User, *, active: bool
) -> None:
    sign_in(client, session, admin)
    response = client.post(
        f"/admin/users/{user.id}",
        data={
            "csrf_token": csrf(client),
            "name": user.name,
            "email": user.email,
            "locale": "zh_CN",
            "is_active": "true" if active else "false",
            "roles": ["viewer"],
        },
    )
    assert response.status_code == 303


class TestDeactivation:
    def test_ends_the_calendar_feed_and_the_tokens(
        self, client: TestClient, session: Session
    ) -> None:
        admin, user = make_user(session, roles=[Role.admin]), make_user(session)
        token, feed = _issue_token_and_feed(client, session, user)
        assert _feed_works(client, feed)
        assert _token_works(client, token)
        _set_active(client, session, admin, user, active=False)
        with TestClient(client.app, follow_redirects=False) as anonymous:
            assert anonymous.get(feed).status_code == 404
        assert not _token_works(client, token)

    def test_reactivation_does_not_revive_the_old_feed_or_tokens(
        self, client: TestClient, session: Session
    ) -> None:
        admin, user = make_user(session, roles=[Role.admin]), make_user(session)
        token, feed = _issue_token_and_feed(client, session, user)
        _set_active(client, session, admin, user, active=False)
        _set_active(client, session, admin, user, active=True)
        assert not _feed_works(client, feed)
        assert not _token_works(client, token)
        sign_in(client, session, user)
        page = client.get("/account").text
        assert "生成我的日历订阅地址" in page  # a new address must be made, none is live
        assert "已撤销" in page

    def test_the_form_says_what_deactivation_ends(
        self, client: TestClient, session: Session
    ) -> None:
        admin, user = make_user(session, roles=[Role.admin]), make_user(session)
        sign_in(client, session, admin)
        page = client.get(f"/admin/users/{user.id}").text
        assert "停用后，其登录会话、API 令牌和日历订阅地址立即失效" in page

    def test_a_feed_left_on_a_deactivated_account_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        # Deactivated by other means than the user form (an older version, the database):
        # the feed still answers only for an active user.
        user = make_user(session)
        _token, feed = _issue_token_and_feed(client, session, user)
        user.is_active = False
        session.add(user)
        session.commit()
        assert not _feed_works(client, feed)


class TestPasswordChange:
    def _change(self, client: TestClient, current: str = PASSWORD) -> Response:
        response: Response = client.post(
            "/account/password",
            data={
                "current_password": current,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
                "csrf_token": csrf(client),
            },
        )
        return response

    def test_revokes_api_tokens_and_the_calendar_address(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        token, feed = _issue_token_and_feed(client, session, user)
        response = self._change(client)
        assert response.status_code == 303
        assert not _token_works(client, token)
        assert not _feed_works(client, feed)
        page = client.get("/account").text
        assert "已撤销" in page
        assert "生成我的日历订阅地址" in page
        revoked = session.exec(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id)).one()
        assert revoked is not None

    def test_the_form_and_the_toast_say_so(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        assert "修改密码后，其他设备上的登录、全部 API 令牌和日历订阅地址都将失效" in (
            client.get("/account").text
        )
        assert self._change(client).status_code == 303
        assert "API 令牌已撤销" in client.get("/account").text  # the toast after the redirect

    def test_a_refused_change_keeps_tokens_and_feed(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        token, feed = _issue_token_and_feed(client, session, user)
        assert self._change(client, current="not my password").status_code == 422
        assert _token_works(client, token)
        assert _feed_works(client, feed)
        preference = session.get(NotificationPreference, user.id)
        assert preference is not None
        assert preference.calendar_token_hash is not None
