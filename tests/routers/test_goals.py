"""Goals: creation rules, recording and correcting values with and without htmx, export."""

from datetime import date
from io import BytesIO
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import event
from sqlmodel import Session, select

from app.models.goal import Goal, Measurement
from app.models.user import Role
from app.services.strategy import goals as goal_service
from app.services.strategy.goals import Reading
from tests.factories import HX, NOW, csrf, make_capability, make_goal, make_user, sign_in

GOAL_FORM = {
    "indicator": "设备联网率",
    "unit": "%",
    "baseline": "40",
    "baseline_date": "2025-01-01",
    "target": "90",
    "deadline": "2026-12-31",
    "direction": "increase",
    "frequency": "monthly",
}


class TestCreate:
    def test_manager_adds_goal(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        capability = make_capability(session)
        response = client.post(
            f"/capabilities/{capability.id}/goals", data={**GOAL_FORM, "csrf_token": csrf(client)}
        )
        assert response.status_code == 303
        assert (
            session.exec(select(Goal).where(Goal.capability_id == capability.id)).one().target == 90
        )

    def test_non_numeric_target_and_deadline_before_baseline(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        capability = make_capability(session)
        url = f"/capabilities/{capability.id}/goals"
        text = client.post(url, data={**GOAL_FORM, "target": "九十", "csrf_token": csrf(client)})
        assert text.status_code == 422
        assert 'id="target-error"' in text.text
        early = client.post(
            url,
            data={**GOAL_FORM, "deadline": "2024-06-30", "csrf_token": csrf(client)},
            headers=HX,
        )
        assert early.status_code == 422
        assert 'id="deadline-error"' in early.text
        assert session.exec(select(Goal).where(Goal.capability_id == capability.id)).first() is None


class TestRecord:
    def test_owner_records_with_htmx_and_sees_the_fragment(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        goal = make_goal(session, make_capability(session).id or 0, owner_id=owner.id)
        sign_in(client, session, owner)
        response = client.post(
            f"/goals/{goal.id}/measurements",
            data={"period": "2026-10-17", "value": "66.5", "csrf_token": csrf(client)},
            headers={**HX, "HX-Target": "measurements"},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="measurements">')
        stored = session.exec(select(Measurement).where(Measurement.goal_id == goal.id)).one()
        assert (stored.period, stored.value) == (date(2026, 10, 1), 66.5)

    def test_second_value_for_the_period_is_409_saying_to_correct(
        self, client: TestClient, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        goal = make_goal(session, make_capability(session).id or 0)
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, 10, 1), 60),
        )
        session.commit()
        sign_in(client, session, admin)
        for headers in ({}, {**HX, "HX-Target": "measurements"}):
            response = client.post(
                f"/goals/{goal.id}/measurements",
                data={"period": "2026-10-05", "value": "61", "csrf_token": csrf(client)},
                headers=headers,
            )
            assert response.status_code == 409
            assert 'id="period-error"' in response.text
        assert len(goal_service.history(session=session, goal_id=goal.id or 0)) == 1

    def test_other_owner_is_refused(self, client: TestClient, session: Session) -> None:
        goal = make_goal(session, make_capability(session).id or 0)
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        response = client.post(
            f"/goals/{goal.id}/measurements",
            data={"period": "2026-10-01", "value": "1", "csrf_token": csrf(client)},
        )
        assert response.status_code == 403

    def test_correction_keeps_the_old_value_visible(
        self, client: TestClient, session: Session
    ) -> None:
        goal = make_goal(session, make_capability(session).id or 0)
        first = goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, 9, 1), 60),
        )
        session.commit()
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        missing_note = client.post(
            f"/measurements/{first.id}/correct", data={"value": "62", "csrf_token": csrf(client)}
        )
        assert missing_note.status_code == 422
        response = client.post(
            f"/measurements/{first.id}/correct",
            data={"value": "62", "note": "抄录错误", "csrf_token": csrf(client)},
        )
        assert response.status_code == 303
        page = client.get(f"/goals/{goal.id}")
        history = page.text.split('id="measurement-history"')[1]
        assert "62.0" in history
        assert "60.0" in history
        assert "text-decoration-line-through" in history


def test_goal_register_export_opens_in_excel_terms(client: TestClient, session: Session) -> None:
    goal = make_goal(
        session, make_capability(session, title="质量追溯能力").id or 0, indicator="一次合格率"
    )
    goal_service.record(
        session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(date(2026, 8, 1), 97.5)
    )
    session.commit()
    sign_in(client, session, make_user(session))
    response = client.get("/goals/export.xlsx")
    assert response.status_code == 200
    book = load_workbook(BytesIO(response.content))
    goals_sheet, values_sheet = book.worksheets
    rows = list(goals_sheet.iter_rows(values_only=True))
    assert rows[0][1] == "指标"
    assert any(r[1] == "一次合格率" and r[10] == 97.5 for r in rows[1:])
    assert any(
        r[0] == "一次合格率" and r[2] == 97.5
        for r in values_sheet.iter_rows(min_row=2, values_only=True)
    )


def test_api_records_and_lists_status(client: TestClient, session: Session) -> None:
    from app.services.accounts import api_tokens as api_token_service

    admin = make_user(session, roles=[Role.admin])
    goal = make_goal(session, make_capability(session).id or 0)
    _t, secret = api_token_service.create(session=session, now=NOW, user_id=admin.id or 0, name="x")
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post(
        f"/api/v1/goals/{goal.id}/measurements",
        headers=headers,
        json={"period": "2026-10-01", "value": 70},
    )
    assert created.status_code == 201
    again = client.post(
        f"/api/v1/goals/{goal.id}/measurements",
        headers=headers,
        json={"period": "2026-10-01", "value": 71},
    )
    assert again.status_code == 409
    detail = client.get(f"/api/v1/goals/{goal.id}", headers=headers).json()
    assert [m["value"] for m in detail["measurements"]] == [70.0]
    assert detail["status"] in {"on_track", "at_risk", "off_track", "achieved", "missing_data"}


class TestEdit:
    def test_manager_changes_target_and_values_stay(
        self, client: TestClient, session: Session
    ) -> None:
        goal = make_goal(session, make_capability(session).id or 0)
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, 9, 1), 60),
        )
        session.commit()
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        page = client.get(f"/goals/{goal.id}")
        assert 'id="edit-goal"' in page.text
        response = client.post(
            f"/goals/{goal.id}", data={**GOAL_FORM, "target": "95", "csrf_token": csrf(client)}
        )
        assert response.status_code == 303
        session.refresh(goal)
        assert goal.target == 95
        assert len(goal_service.history(session=session, goal_id=goal.id or 0)) == 1

    def test_invalid_edit_reopens_the_form_and_changes_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        goal = make_goal(session, make_capability(session).id or 0)
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            f"/goals/{goal.id}", data={**GOAL_FORM, "target": "10", "csrf_token": csrf(client)}
        )
        assert response.status_code == 422
        assert '<details class="card shadow-sm mb-4" id="edit-goal" open>' in response.text
        session.refresh(goal)
        assert goal.target == 80


class TestApiList:
    def _headers(self, session: Session) -> dict[str, str]:
        from app.services.accounts import api_tokens as api_token_service

        admin = make_user(session, roles=[Role.admin])
        _t, secret = api_token_service.create(
            session=session, now=NOW, user_id=admin.id or 0, name="x"
        )
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    def test_pages_with_total_and_status(self, client: TestClient, session: Session) -> None:
        headers = self._headers(session)
        capability = make_capability(session)
        goals = [make_goal(session, capability.id or 0, indicator=f"指标{n}") for n in range(3)]
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goals[1],
            reading=Reading(date(2026, 10, 1), 79),
        )
        session.commit()
        url = f"/api/v1/goals?capability={capability.id}&size=2"
        first = client.get(url, headers=headers).json()
        assert (first["total"], first["page"], first["size"]) == (3, 1, 2)
        assert [g["indicator"] for g in first["items"]] == ["指标0", "指标1"]
        assert [g["status"] for g in first["items"]] == ["missing_data", "on_track"]
        last = client.get(url + "&page=2", headers=headers).json()
        assert (last["total"], [g["indicator"] for g in last["items"]]) == (3, ["指标2"])
        beyond = client.get(url + "&page=3", headers=headers).json()
        assert (beyond["total"], beyond["items"]) == (3, [])
        assert client.get(url + "&size=201", headers=headers).status_code == 422

    def test_statements_do_not_grow_with_the_page(
        self, client: TestClient, session: Session, connection: Any
    ) -> None:
        headers = self._headers(session)
        capability = make_capability(session)
        url = f"/api/v1/goals?capability={capability.id}&size=50"

        def statements() -> int:
            seen: list[str] = []

            def record(*args: Any) -> None:
                seen.append(args[2])

            event.listen(connection, "before_cursor_execute", record)
            try:
                assert client.get(url, headers=headers).status_code == 200
            finally:
                event.remove(connection, "before_cursor_execute", record)
            return len(seen)

        make_goal(session, capability.id or 0)
        statements()  # the token's first use is recorded once
        one = statements()
        for _ in range(9):
            make_goal(session, capability.id or 0)
        assert statements() == one
