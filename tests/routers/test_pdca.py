"""The PDCA page: start, advance in order, close and carry open tasks."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.pdca import PdcaCycle, Phase
from app.models.user import Role
from tests.factories import HX, csrf, make_user, sign_in


def test_full_cycle_through_the_page(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    assert (
        client.post("/pdca", data={"period": "2026", "csrf_token": csrf(client)}).status_code == 303
    )
    cycle = session.exec(select(PdcaCycle)).one()
    skip = client.post(
        f"/pdca/{cycle.id}/advance", data={"phase": "check", "csrf_token": csrf(client)}
    )
    assert skip.status_code == 409
    assert "Plan, Do, Check, Act" in skip.text or "策划" in skip.text
    assert "PDCA 各阶段须依次推进" in skip.text
    for phase in ("do", "check", "act"):
        response = client.post(
            f"/pdca/{cycle.id}/advance",
            data={"phase": phase, "csrf_token": csrf(client)},
            headers=HX,
        )
        assert response.status_code == 204
    same = client.post(
        f"/pdca/{cycle.id}/close", data={"next_period": "2026", "csrf_token": csrf(client)}
    )
    assert same.status_code == 422
    assert 'id="period-error"' in same.text
    closed = client.post(
        f"/pdca/{cycle.id}/close", data={"next_period": "2027", "csrf_token": csrf(client)}
    )
    assert closed.status_code == 303
    session.refresh(cycle)
    assert cycle.phase == Phase.closed
    page = client.get("/pdca")
    assert "2027" in page.text
    assert 'aria-current="step"' in page.text


def test_bad_phase_value_is_422(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    client.post("/pdca", data={"period": "2026", "csrf_token": csrf(client)})
    cycle = session.exec(select(PdcaCycle)).one()
    assert (
        client.post(
            f"/pdca/{cycle.id}/advance", data={"phase": "x", "csrf_token": csrf(client)}
        ).status_code
        == 422
    )
