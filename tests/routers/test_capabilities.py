"""Capability pages: create, detail with goals and elements, stage changes, delete vs archive."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.capability import Capability, Stage
from app.models.initiative import Element, Initiative, Task, TaskStatus
from app.models.user import Role
from tests.factories import HX, csrf, make_capability, make_goal, make_user, sign_in


class TestCreate:
    def test_manager_creates_capability_linked_to_requirements(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        from tests.factories import first_clause

        response = client.post(
            "/capabilities",
            data={
                "code": "MES",
                "title": "生产管控能力",
                "current_grade": "CL1",
                "target_grade": "CL3",
                "requirement_ids": [str(first_clause(session).id)],
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 303
        capability = session.exec(select(Capability).where(Capability.code == "MES")).one()
        page = client.get(response.headers["location"])
        assert "两化融合方针" in page.text  # the linked requirement is listed
        assert capability.stage == Stage.identified

    def test_duplicate_code_is_409_and_bad_grade_order_422(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        make_capability(session, code="QMS")
        dup = client.post(
            "/capabilities", data={"code": "qms", "title": "x", "csrf_token": csrf(client)}
        )
        assert dup.status_code == 409
        assert 'id="code-error"' in dup.text
        order = client.post(
            "/capabilities",
            data={
                "code": "NEW",
                "title": "x",
                "current_grade": "CL3",
                "target_grade": "CL1",
                "csrf_token": csrf(client),
            },
        )
        assert order.status_code == 422
        assert 'id="target_grade-error"' in order.text


class TestStage:
    def test_htmx_stage_change_returns_the_stage_card(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        capability = make_capability(session)
        response = client.post(
            f"/capabilities/{capability.id}/stage",
            data={"stage": "planned", "note": "立项", "csrf_token": csrf(client)},
            headers={**HX, "HX-Target": "stage"},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div class="card shadow-sm mb-4" id="stage">')
        assert "showToast" in response.headers["HX-Trigger"]
        session.refresh(capability)
        assert capability.stage == Stage.planned

    def test_skipping_a_stage_is_409_without_htmx_too(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        capability = make_capability(session)
        response = client.post(
            f"/capabilities/{capability.id}/stage",
            data={"stage": "operating", "csrf_token": csrf(client)},
        )
        assert response.status_code == 409
        assert "<nav" in response.text
        session.refresh(capability)
        assert capability.stage == Stage.identified


class TestDelete:
    def test_with_goals_refused_then_archived(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        capability = make_capability(session)
        make_goal(session, capability.id or 0)
        refused = client.post(
            f"/capabilities/{capability.id}/delete", data={"csrf_token": csrf(client)}
        )
        assert refused.status_code == 409
        assert "归档" in refused.text or "archive" in refused.text
        archived = client.post(
            f"/capabilities/{capability.id}/archive", data={"csrf_token": csrf(client)}
        )
        assert archived.status_code == 303
        assert (
            capability.title
            not in client.get("/capabilities").text.split('id="capability-list"')[1]
        )


class TestInitiativesAndTasks:
    def test_add_initiative_and_task_with_htmx_then_owner_moves_it(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        capability = make_capability(session, owner_id=owner.id)
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        target = {**HX, "HX-Target": "initiatives"}
        response = client.post(
            f"/capabilities/{capability.id}/initiatives",
            data={"title": "MES 一期", "csrf_token": csrf(client)},
            headers=target,
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="initiatives">')
        initiative = session.exec(select(Initiative)).one()
        bad = client.post(
            f"/initiatives/{initiative.id}/tasks",
            data={"title": "采集改造", "csrf_token": csrf(client)},
            headers=target,
        )
        assert bad.status_code == 422
        assert 'id="element-error"' in bad.text
        ok = client.post(
            f"/initiatives/{initiative.id}/tasks",
            data={"title": "采集改造", "element": "technology", "csrf_token": csrf(client)},
        )
        assert ok.status_code == 200
        assert "<nav" in ok.text
        task = session.exec(select(Task)).one()
        sign_in(client, session, owner)
        moved = client.post(
            f"/tasks/{task.id}/status",
            data={"status": "done", "csrf_token": csrf(client)},
            headers=target,
        )
        assert moved.status_code == 200
        session.refresh(task)
        assert task.status == TaskStatus.done

    def test_owner_cannot_move_someone_elses_task(
        self, client: TestClient, session: Session
    ) -> None:
        capability = make_capability(session)
        initiative = Initiative(
            capability_id=capability.id or 0, title="i", created_at=capability.created_at
        )
        session.add(initiative)
        session.commit()
        task = Task(
            initiative_id=initiative.id or 0,
            title="t",
            element=Element.data,
            created_at=capability.created_at,
        )
        session.add(task)
        session.commit()
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        response = client.post(
            f"/tasks/{task.id}/status", data={"status": "done", "csrf_token": csrf(client)}
        )
        assert response.status_code == 403
        session.refresh(task)
        assert task.status == TaskStatus.open
