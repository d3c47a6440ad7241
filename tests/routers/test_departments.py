"""Administrators manage the department tree."""

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models.department import Department
from app.models.user import Role
from tests.factories import HX, csrf, make_department, make_user, sign_in


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Department)).one()


class TestCreate:
    def test_creates_sub_department_and_lists_it_indented(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        parent = make_department(session, name="生产部", code="PROD")
        response = client.post(
            "/admin/departments",
            data={
                "name": "装配车间",
                "code": "ASM",
                "parent_id": str(parent.id),
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "\u3000装配车间" in page.text
        assert "部门已创建" in page.text  # the toast travels with the redirect

    def test_code_clash_is_409_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        make_department(session, code="QA")
        before = _count(session)
        for headers in ({}, HX):
            response = client.post(
                "/admin/departments",
                data={"name": "质量", "code": "qa", "csrf_token": csrf(client)},
                headers=headers,
            )
            assert response.status_code == 409
            assert 'id="code-error"' in response.text
        assert _count(session) == before

    def test_bad_code_characters_are_422(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/admin/departments", data={"name": "X", "code": "a/b", "csrf_token": csrf(client)}
        )
        assert response.status_code == 422
        assert "只能使用" in response.text


class TestUpdate:
    def test_cannot_move_below_own_child(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        top = make_department(session)
        child = make_department(session, parent_id=top.id)
        response = client.post(
            f"/admin/departments/{top.id}",
            data={
                "name": top.name,
                "code": top.code,
                "parent_id": str(child.id),
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 422
        assert 'id="parent_id-error"' in response.text
        session.refresh(top)
        assert top.parent_id is None


class TestDelete:
    def test_in_use_department_is_refused_with_the_reason(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        department = make_department(session)
        make_user(session, department_id=department.id)
        response = client.post(
            f"/admin/departments/{department.id}/delete", data={"csrf_token": csrf(client)}
        )
        assert response.status_code == 409
        assert "该部门下还有用户" in response.text
        htmx = client.post(
            f"/admin/departments/{department.id}/delete",
            headers={**HX, "X-CSRF-Token": csrf(client)},
        )
        assert htmx.status_code == 409
        assert htmx.headers["HX-Reswap"] == "none"
        assert session.get(Department, department.id) is not None

    def test_empty_department_is_deleted(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        department = make_department(session)
        response = client.post(
            f"/admin/departments/{department.id}/delete", data={"csrf_token": csrf(client)}
        )
        assert response.status_code == 303
        remaining = session.exec(
            select(func.count()).select_from(Department).where(Department.id == department.id)
        ).one()
        assert remaining == 0
