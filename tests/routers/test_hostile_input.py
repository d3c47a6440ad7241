"""Hostile input across the pages and forms: every answer is a clear 4xx, never a 5xx."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models.user import Role
from tests.factories import csrf, first_clause, make_capability, make_goal, make_user, sign_in


def test_no_hostile_input_reaches_a_server_error(client: TestClient, session: Session) -> None:
    admin = make_user(session, roles=[Role.admin])
    sign_in(client, session, admin)
    cap = make_capability(session)
    goal = make_goal(session, cap.id or 0)
    r = first_clause(session)
    long = "长" * 5000
    gets = [
        "/evidence?page=0",
        "/evidence?size=0",
        "/evidence?owner=abc",
        "/evidence?sort=zzz",
        "/evidence?q=" + "%" * 200,
        "/goals/abc",
        "/goals/999999",
        "/capabilities/999999",
        "/capabilities/x",
        "/requirements?framework=999",
        "/requirements?framework=abc",
        "/admin/reminders?status=zzz",
        "/admin/reminders?page=-1",
        "/calendar/" + "a" * 300 + ".ics",
        "/calendar/abc.ics",
        "/evidence/999/revisions/1/download",
        "/api/v1/goals?capability=abc",
        "/api/v1/evidence?page=999999",
        "/inbox?page=abc",
        "/strategy",
        "/pdca",
        "/dashboard",
        "/",
        "/account",
        "/evidence/import",
        "/admin/users?q=" + long[:50],
    ]
    bad: list[tuple[object, ...]] = []
    for g in gets:
        resp = client.get(g)
        if resp.status_code >= 500:
            bad.append((g, resp.status_code))
    posts: list[tuple[str, dict[str, str | list[str]]]] = [
        (
            f"/capabilities/{cap.id}/goals",
            {
                "indicator": long,
                "baseline": "1e400",
                "baseline_date": "2026-13-45",
                "target": "nan",
                "deadline": "x",
            },
        ),
        (
            f"/capabilities/{cap.id}/goals",
            {
                "indicator": "x",
                "baseline": "nan",
                "baseline_date": "2026-01-01",
                "target": "inf",
                "deadline": "2027-01-01",
            },
        ),
        (f"/goals/{goal.id}/measurements", {"period": "9999-12-31", "value": "1e309"}),
        (f"/goals/{goal.id}/measurements", {"period": "0001-01-01", "value": "nan"}),
        (f"/capabilities/{cap.id}/stage", {"stage": "x" * 1000, "note": long}),
        (f"/capabilities/{cap.id}/initiatives", {"title": long}),
        (
            "/capabilities",
            {
                "code": long,
                "title": long,
                "advantage_ids": ["abc"],
                "requirement_ids": ["99999999"],
            },
        ),
        (
            "/capabilities",
            {
                "code": "OK1",
                "title": "t",
                "owner_id": "999999999999999999999",
                "current_grade": "CL9",
            },
        ),
        ("/strategy", {"title": long, "horizon": long, "description": long}),
        ("/strategy/999/approve", {}),
        (
            "/evidence",
            {
                "title": "t",
                "reference": long,
                "review_interval_months": "99999",
                "next_review_date": "x",
                "kind": "zzz",
            },
        ),
        ("/evidence", {"title": "t", "owner_id": "-5", "department_id": "abc"}),
        ("/pdca", {"period": long}),
        ("/pdca/999/advance", {"phase": "do"}),
        (
            "/admin/reminders/rules/task",
            {"days_before": "1" * 100, "overdue_every_days": "-5", "escalate_after_days": "abc"},
        ),
        (
            "/admin/reminders/webhooks",
            {"name": long, "kind": "zzz", "url": "https://x" + "y" * 2000},
        ),
        ("/admin/reminders/calendar", {"day": "2026-02-30", "kind": "off", "note": long}),
        ("/admin/reminders/test", {"channel": "webhook:999"}),
        ("/admin/reminders/deliveries/999/retry", {}),
        ("/account/reminders", {"quiet_start": "99", "quiet_end": "-1"}),
        (
            "/admin/departments",
            {"name": long, "code": "x" * 100, "parent_id": "99999999999999999999999"},
        ),
        (
            "/admin/users",
            {
                "name": "x",
                "email": "a@b.c",
                "password": "0123456789a",
                "department_id": "99999999999999999999",
            },
        ),
        (
            f"/requirements/{r.id}/status",
            {"owner_id": "99999999999999999999999", "department_id": "-1"},
        ),
        (f"/requirements/{r.id}/evidence", {"evidence_id": "99999999"}),
        ("/inbox/read", {"notification_id": "abc"}),
        ("/locale", {"locale": long}),
        ("/evidence/import/confirm", {"token": "../../etc/passwd"}),
    ]
    for url, data in posts:
        resp = client.post(url, data={**data, "csrf_token": csrf(client)})
        if resp.status_code >= 500:
            bad.append((url, resp.status_code, str(data)[:80]))
    assert bad == []


def test_oversized_id_is_a_field_error_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    requirement = first_clause(session)
    response = client.post(
        f"/requirements/{requirement.id}/status",
        data={"owner_id": "99999999999999999999", "notes": "x", "csrf_token": csrf(client)},
    )
    assert response.status_code == 422
    assert 'id="owner_id-error"' in response.text


def test_oversized_id_in_the_api_is_422(client: TestClient, session: Session) -> None:
    from app.services.accounts import api_tokens as api_token_service
    from tests.factories import NOW

    admin = make_user(session, roles=[Role.admin])
    _t, secret = api_token_service.create(session=session, now=NOW, user_id=admin.id or 0, name="x")
    session.commit()
    response = client.put(
        f"/api/v1/requirements/{first_clause(session).id}/status",
        headers={"Authorization": f"Bearer {secret}"},
        json={"owner_id": 99999999999999999999},
    )
    assert response.status_code == 422
