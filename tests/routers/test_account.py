"""One's own password and API tokens."""

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models.api_token import ApiToken
from app.models.auth import UserSession
from app.security import verify_password
from tests.factories import HX, PASSWORD, csrf, make_user, sign_in


class TestPassword:
    def test_change_ends_other_sessions_but_keeps_this_one(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        sign_in(client, session, user)  # another device
        sign_in(client, session, user)  # this browser
        response = client.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": "a brand new secret",
                "new_password_confirm": "a brand new secret",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 303
        session.refresh(user)
        assert verify_password("a brand new secret", user.password_hash)
        sessions = session.exec(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
        ).one()
        assert sessions == 1
        assert client.get("/account").status_code == 200

    def test_wrong_current_password_is_shown_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        response = client.post(
            "/account/password",
            data={
                "current_password": "nope nope nope",
                "new_password": "a brand new secret",
                "new_password_confirm": "a brand new secret",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 422
        assert 'id="current_password-error"' in response.text
        session.refresh(user)
        assert verify_password(PASSWORD, user.password_hash)


class TestTokens:
    def test_create_shows_the_secret_once_with_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        response = client.post(
            "/account/tokens",
            data={"name": "ERP 集成"},
            headers={**HX, "HX-Target": "api-tokens", "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div class="card shadow-sm" id="api-tokens">')
        secret = response.text.split('id="new-token">')[1].split("<")[0]
        assert secret.startswith("rh_")
        stored = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).one()
        assert stored.token_hash != secret
        assert secret not in client.get("/account").text
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["email"]
            == user.email
        )

    def test_create_without_htmx_renders_the_page(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        response = client.post("/account/tokens", data={"name": "脚本", "csrf_token": csrf(client)})
        assert response.status_code == 200
        assert "<nav" in response.text
        assert 'id="new-token"' in response.text

    def test_empty_name_is_422(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        response = client.post("/account/tokens", data={"name": " ", "csrf_token": csrf(client)})
        assert response.status_code == 422
        assert 'id="name-error"' in response.text

    def test_revoke_and_cannot_revoke_someone_elses(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session)
        sign_in(client, session, owner)
        client.post("/account/tokens", data={"name": "t", "csrf_token": csrf(client)})
        token = session.exec(select(ApiToken).where(ApiToken.user_id == owner.id)).one()
        intruder = make_user(session)
        sign_in(client, session, intruder)
        assert (
            client.post(
                f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf(client)}
            ).status_code
            == 404
        )
        sign_in(client, session, owner)
        response = client.post(
            f"/account/tokens/{token.id}/revoke",
            headers={**HX, "HX-Target": "api-tokens", "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 200
        assert "已撤销" in response.text
        session.refresh(token)
        assert token.revoked_at is not None
