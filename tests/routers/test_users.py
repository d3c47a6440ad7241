"""Administrators manage users and roles."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.user import Role, User
from app.services.accounts import users as user_service
from tests.factories import HX, csrf, make_department, make_user, sign_in


def _form(client: TestClient, **values: object) -> dict[str, object]:
    return {"csrf_token": csrf(client), "locale": "zh_CN", "is_active": "true", **values}


class TestList:
    def test_search_with_and_without_htmx(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        make_user(session, name="欧阳明", email="ouyang@example.com")
        page = client.get("/admin/users?q=欧阳")
        assert page.status_code == 200
        assert "<nav" in page.text
        assert "ouyang@example.com" in page.text
        fragment = client.get("/admin/users?q=ouyang", headers={**HX, "HX-Target": "user-list"})
        assert fragment.text.lstrip().startswith('<div id="user-list">')
        assert "欧阳明" in fragment.text
        assert "1 位用户" in fragment.text

    def test_paginates(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        for _ in range(3):
            make_user(session)
        response = client.get("/admin/users?size=2&page=2")
        assert response.status_code == 200
        assert 'class="pagination' in response.text

    def test_size_out_of_range_is_422(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        assert client.get("/admin/users?size=100000").status_code == 422


class TestCreate:
    def test_creates_user_with_several_roles(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        department = make_department(session)
        response = client.post(
            "/admin/users",
            data=_form(
                client,
                name="周敏",
                email="Zhou.Min@Example.com",
                password="0123456789ab",
                department_id=str(department.id),
                roles=["auditor", "owner"],
            ),
        )
        assert response.status_code == 303
        user = session.exec(select(User).where(User.email == "zhou.min@example.com")).one()
        assert user.department_id == department.id
        assert user_service.roles_of(session=session, user_id=user.id or 0) == {
            Role.auditor,
            Role.owner,
        }

    def test_duplicate_email_is_a_field_error_with_htmx_and_without(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        existing = make_user(session)
        for headers in ({}, HX):
            response = client.post(
                "/admin/users",
                data=_form(
                    client, name="重复", email=existing.email.upper(), password="0123456789ab"
                ),
                headers=headers,
            )
            assert response.status_code == 409
            assert 'id="email-error"' in response.text
            assert "已存在" in response.text

    def test_bad_role_and_long_name_change_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        before = user_service.count_users(session=session)
        response = client.post(
            "/admin/users",
            data=_form(
                client,
                name="名" * 101,
                email="x@example.com",
                password="0123456789ab",
                roles=["god"],
            ),
        )
        assert response.status_code == 422
        assert 'id="name-error"' in response.text
        assert 'id="roles-error"' in response.text
        assert user_service.count_users(session=session) == before


class TestUpdate:
    def test_last_admin_cannot_drop_admin_role(self, client: TestClient, session: Session) -> None:
        admin = make_user(session, roles=[Role.admin])
        sign_in(client, session, admin)
        response = client.post(
            f"/admin/users/{admin.id}",
            data=_form(client, name=admin.name, email=admin.email, roles=["viewer"]),
        )
        assert response.status_code == 409
        assert "至少保留一名" in response.text
        assert Role.admin in user_service.roles_of(session=session, user_id=admin.id or 0)

    def test_deactivating_ends_their_sessions(self, client: TestClient, session: Session) -> None:
        admin = make_user(session, roles=[Role.admin])
        target = make_user(session)
        sign_in(client, session, admin)
        response = client.post(
            f"/admin/users/{target.id}",
            data=_form(
                client, name=target.name, email=target.email, is_active="false", roles=["viewer"]
            ),
            headers=HX,
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/admin/users"
        session.refresh(target)
        assert target.is_active is False

    def test_unknown_user_is_404(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        assert client.get("/admin/users/987654").status_code == 404
