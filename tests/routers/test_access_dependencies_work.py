"""Loading by path id and the right to the object as one dependency (app/web/access/): the
refusals are the same as when each handler checked by hand, come before anything is written,
and `:int` path converters keep fixed paths from ever being taken for an id."""

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent
from app.models.audit import Audit
from app.models.goal import Measurement
from app.models.nonconformity import Nonconformity
from app.models.user import Role, User
from app.services.accounts import api_tokens as api_token_service
from tests.factories import (
    HX,
    NOW,
    csrf,
    make_audit,
    make_capability,
    make_goal,
    make_nc,
    make_user,
    sign_in,
)

NOT_OWNER = "Only the owner, an administrator or top management may change this."
NOT_ON_TEAM = "Only the audit team works on this audit."
NOT_ALLOWED = "You do not have permission to do this."
MISSING_ID = 999_999


def _events(session: Session) -> int:
    return session.exec(select(func.count()).select_from(ActivityEvent)).one()


def _signed_in(client: TestClient, session: Session, role: Role) -> User:
    user = make_user(session, roles=[role], locale="en")
    sign_in(client, session, user)
    return user


def _post(client: TestClient, url: str, htmx: bool, **data: str) -> Response:
    response: Response
    if htmx:
        response = client.post(url, data=data, headers={**HX, "X-CSRF-Token": csrf(client)})
    else:
        response = client.post(url, data={**data, "csrf_token": csrf(client)})
    return response


def _refused(response: Response, status: int, message: str, htmx: bool) -> None:
    """A page for the browser; for htmx, the text of a toast, and the page stays as it was."""
    assert response.status_code == status
    assert message in response.text
    if htmx:
        assert response.headers["HX-Reswap"] == "none"
        assert response.text == message


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
class TestWorkableNonconformity:
    """POST /nonconformities/{id}/correction: the owner's work, or an overseer's."""

    def test_another_owner_is_refused_and_nothing_is_written(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        nc = make_nc(session, make_user(session, roles=[Role.owner]))
        _signed_in(client, session, Role.owner)
        before = _events(session)
        response = _post(client, f"/nonconformities/{nc.id}/correction", htmx, correction="已整改")
        _refused(response, 403, NOT_OWNER, htmx)
        session.expire_all()
        assert (session.get(Nonconformity, nc.id) or nc).correction == ""
        assert _events(session) == before

    def test_without_the_permission_the_generic_refusal_comes_first(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        _signed_in(client, session, Role.viewer)
        response = _post(client, f"/nonconformities/{MISSING_ID}/correction", htmx)
        _refused(response, 403, NOT_ALLOWED, htmx)

    def test_a_missing_nonconformity_is_not_found(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        _signed_in(client, session, Role.owner)
        response = _post(client, f"/nonconformities/{MISSING_ID}/correction", htmx)
        _refused(response, 404, "This nonconformity does not exist.", htmx)

    def test_the_owner_gets_through(self, client: TestClient, session: Session, htmx: bool) -> None:
        owner = _signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        response = _post(client, f"/nonconformities/{nc.id}/correction", htmx, correction="已整改")
        assert response.status_code in (204, 303)
        session.expire_all()
        assert (session.get(Nonconformity, nc.id) or nc).correction == "已整改"


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
class TestAuditTeamMember:
    """POST /audits/{id}/summary: auditors on the audit's team, or an administrator."""

    def test_an_auditor_off_the_team_is_refused_and_nothing_is_written(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        audit = make_audit(session, start=True)
        _signed_in(client, session, Role.auditor)
        before = _events(session)
        response = _post(client, f"/audits/{audit.id}/summary", htmx, summary="体系运行有效")
        _refused(response, 403, NOT_ON_TEAM, htmx)
        session.expire_all()
        assert not (session.get(Audit, audit.id) or audit).summary
        assert _events(session) == before

    def test_a_missing_audit_is_not_found(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        _signed_in(client, session, Role.auditor)
        response = _post(client, f"/audits/{MISSING_ID}/summary", htmx, summary="x")
        _refused(response, 404, "This audit does not exist.", htmx)

    def test_the_lead_auditor_gets_through(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        lead = _signed_in(client, session, Role.auditor)
        audit = make_audit(session, lead=lead, start=True)
        response = _post(client, f"/audits/{audit.id}/summary", htmx, summary="体系运行有效")
        assert response.status_code in (200, 204, 303)
        session.expire_all()
        assert (session.get(Audit, audit.id) or audit).summary == "体系运行有效"


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
class TestRecordableGoal:
    """POST /goals/{id}/measurements: the owner of the goal or of its capability."""

    def test_another_owner_is_refused_and_nothing_is_written(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        capability = make_capability(session)
        goal = make_goal(session, capability.id or 0)
        _signed_in(client, session, Role.owner)
        before = _events(session)
        response = _post(
            client, f"/goals/{goal.id}/measurements", htmx, period="2026-10-01", value="55"
        )
        _refused(response, 403, NOT_OWNER, htmx)
        recorded = select(func.count()).where(col(Measurement.goal_id) == goal.id)
        assert session.exec(recorded).one() == 0
        assert _events(session) == before

    def test_a_missing_goal_is_not_found(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        _signed_in(client, session, Role.owner)
        response = _post(client, f"/goals/{MISSING_ID}/measurements", htmx, value="1")
        _refused(response, 404, "This goal does not exist.", htmx)


class TestIdConverters:
    """Ids are matched as numbers only: a word is no id, and fixed paths are never ids."""

    @pytest.mark.parametrize(
        "path",
        [
            "/audits/abc",
            "/audits/abc/checklist",
            "/audits/programmes/abc",
            "/nonconformities/abc",
            "/reviews/abc",
            "/reviews/-1",
            "/goals/abc",
            "/capabilities/abc",
            "/strategy/capabilities/abc/goals",
        ],
    )
    @pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
    def test_a_word_where_an_id_belongs_is_not_found(
        self, client: TestClient, session: Session, path: str, htmx: bool
    ) -> None:
        _signed_in(client, session, Role.admin)
        response = client.get(path, headers=HX if htmx else {})
        assert response.status_code == 404
        assert "does not exist" in response.text

    @pytest.mark.parametrize(
        "path",
        [
            "/audits/new",
            "/nonconformities/new",
            "/nonconformities/deadlines",
            "/reviews/new",
            "/capabilities/new",
            "/goals/export.xlsx",
        ],
    )
    def test_fixed_paths_answer_for_a_permitted_user(
        self, client: TestClient, session: Session, path: str
    ) -> None:
        _signed_in(client, session, Role.admin)
        assert client.get(path).status_code == 200

    def test_the_api_answers_a_word_for_an_id_with_not_found(
        self, client: TestClient, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin], locale="en")
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=admin.id or 0, name="t"
        )
        session.commit()
        headers = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
        response = client.get("/api/v1/goals/abc", headers=headers)
        assert response.status_code == 404
        assert response.json() == {"detail": "The page or item you asked for does not exist."}
