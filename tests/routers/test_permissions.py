"""Every mutating route × every role: allowed, or 403 — read from the one permission table."""

from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.main import API_PREFIX, ROUTER_MODULES
from app.models.audit import Audit, AuditMember, AuditProgramme, AuditStatus, ChecklistItem
from app.models.certification import AssessorAccess, Certification, CertificationCreate, Milestone
from app.models.dossier import Dossier, DossierStatus
from app.models.evidence import EvidenceCreate, EvidenceRevision
from app.models.initiative import Element, InitiativeCreate, TaskCreate
from app.models.nonconformity import (
    CorrectiveAction,
    CorrectiveActionCreate,
    Nonconformity,
    NonconformityCreate,
)
from app.models.notification import (
    CalendarDay,
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    WebhookChannel,
    WebhookKind,
)
from app.models.review import ManagementReview, ReviewAction, ReviewStatus
from app.models.self_assessment import (
    AssessmentView,
    SelfAssessment,
    SelfAssessmentCreate,
    ViewLink,
)
from app.models.strategy import AdvantageCreate, StrategyCreate
from app.models.user import Role
from app.permissions import GRANTS, Permission
from app.services.accounts import api_tokens as api_token_service
from app.services.certification import service as certification_service
from app.services.evidence import service as evidence_service
from app.services.nonconformities import service as nc_service
from app.services.self_assessments import service as self_assessment_service
from app.services.strategy import goals as goal_service
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import pdca as pdca_service
from app.services.strategy import service as strategy_service
from app.services.strategy.goals import Reading
from app.web.deps import api_require, require
from tests.conftest import (
    NOW,
    csrf,
    first_clause,
    make_capability,
    make_department,
    make_goal,
    make_user,
    sign_in,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# Routes open to anyone signed in (or to anyone at all), on purpose.
SELF_SERVICE = {
    "POST /login",
    "POST /logout",
    "POST /setup",
    "POST /locale",
    "POST /account/password",
    "POST /account/tokens",
    "POST /account/tokens/{token_id}/revoke",
    "POST /inbox/read",
    "POST /account/reminders",
    "POST /account/calendar",
}


def _permission(route: APIRoute) -> Permission | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, require | api_require):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def mutating_routes(app: FastAPI) -> list[tuple[str, str, Permission | None]]:
    found = []
    for module in ROUTER_MODULES:
        routers = [("", module.router)]
        if hasattr(module, "api_router"):
            routers.append((API_PREFIX, module.api_router))
        for prefix, router in routers:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                for method in sorted(route.methods & UNSAFE):
                    found.append((method, prefix + route.path, _permission(route)))
    return found


def test_every_mutating_route_is_guarded_or_declared_self_service(app: FastAPI) -> None:
    unguarded = {f"{m} {p}" for m, p, perm in mutating_routes(app) if perm is None}
    assert unguarded == SELF_SERVICE


def owned_objects(session: Session, owner_id: int) -> dict[str, int | str]:
    """A strategy line whose capability, goal, initiative and task the acting user owns, so that
    object-level checks let an owner through wherever the owner role is granted."""
    strategy = strategy_service.create(
        session=session, now=NOW, actor_id=None, data=StrategyCreate(title="战略")
    )
    advantage = strategy_service.create_advantage(
        session=session,
        now=NOW,
        actor_id=None,
        data=AdvantageCreate(title="优势", strategy_id=strategy.id or 0),
    )
    capability = make_capability(session, owner_id=owner_id)
    goal = make_goal(session, capability.id or 0, owner_id=owner_id)
    measurement = goal_service.record(
        session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(date(2026, 1, 1), 50)
    )
    initiative = initiative_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=InitiativeCreate(title="方案", capability_id=capability.id or 0, owner_id=owner_id),
    )
    task = initiative_service.create_task(
        session=session,
        now=NOW,
        actor_id=None,
        data=TaskCreate(
            title="任务", element=Element.data, initiative_id=initiative.id or 0, owner_id=owner_id
        ),
    )
    cycle = pdca_service.start(session=session, now=NOW, actor_id=None, period="2026")
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(title="证据", owner_id=owner_id),
    )
    revision = EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW)
    session.add(revision)
    session.commit()
    message = Notification(
        kind=DueKind.task,
        subject_type="task",
        subject_id=1,
        due_date=date(2026, 12, 1),
        threshold="due",
        recipient_id=owner_id,
        channel=Channel.email,
        route="email",
        title="t",
        status=DeliveryStatus.dead,
        created_at=NOW,
        next_attempt_at=NOW,
    )
    webhook = WebhookChannel(name="群", kind=WebhookKind.generic, url="http://127.0.0.1:9/x")
    session.add_all([message, webhook])
    session.add(CalendarDay(day=date(2027, 1, 1), is_workday=False))
    session.commit()
    audit, audit_item = _audit_led_by(session, owner_id)
    nonconformity, action = _nonconformity_owned_by(session, owner_id)
    review, review_action = _review_chaired_by(session, owner_id)
    certification, milestone, assessment, view_link = _certification_objects(
        session, capability.id or 0
    )
    return {
        "notification_id": message.id or 0,
        "webhook_id": webhook.id or 0,
        "day": "2027-01-01",
        "evidence_id": evidence.id or 0,
        "revision_id": revision.id or 0,
        "kind": "requirement",
        "target_id": first_clause(session).id or 0,
        "strategy_id": strategy.id or 0,
        "advantage_id": advantage.id or 0,
        "capability_id": capability.id or 0,
        "goal_id": goal.id or 0,
        "measurement_id": measurement.id or 0,
        "initiative_id": initiative.id or 0,
        "task_id": task.id or 0,
        "cycle_id": cycle.id or 0,
        "audit_id": audit.id or 0,
        "item_id": audit_item.id or 0,
        "programme_id": audit.programme_id or 0,
        **_shared_dossier(session),
        "nonconformity_id": nonconformity.id or 0,
        "action_id": action.id or 0,
        "review_id": review.id or 0,
        "review_action_id": review_action.id or 0,
        "certification_id": certification.id or 0,
        "milestone_id": milestone.id or 0,
        "code": "A",
        "assessment_id": assessment.id or 0,
        "link_id": view_link.id or 0,
    }


def _certification_objects(
    session: Session, capability_id: int
) -> tuple[Certification, Milestone, SelfAssessment, ViewLink]:
    """A certification with its milestones, a self-assessment and a weak-view link."""
    certification = certification_service.create(
        session=session, now=NOW, actor_id=None, data=CertificationCreate(body="评定机构")
    )
    milestone = certification_service.milestones(
        session=session, certification_id=certification.id or 0
    )[0]
    assessment = self_assessment_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=SelfAssessmentCreate(year=2025, overall_score=60),
    )
    view_link = self_assessment_service.link(
        session=session,
        now=NOW,
        actor_id=None,
        view=AssessmentView.collaboration,
        capability_id=capability_id,
        goal_id=None,
    )
    session.commit()
    return certification, milestone, assessment, view_link


def _shared_dossier(session: Session) -> dict[str, int | str]:
    """A finished dossier with an assessor link (the file itself is not needed here)."""
    dossier = Dossier(status=DossierStatus.ready, active=None, requested_at=NOW)
    session.add(dossier)
    session.flush()
    access = AssessorAccess(
        name="评定机构",
        token_hash="0" * 64,
        dossier_id=dossier.id or 0,
        created_at=NOW,
        expires_at=NOW,
    )
    session.add(access)
    session.commit()
    return {"dossier_id": dossier.id or 0, "access_id": access.id or 0}


def _audit_led_by(session: Session, lead_id: int) -> tuple[Audit, ChecklistItem]:
    """A started audit whose lead is the acting user (written directly: the planning rules
    would refuse a viewer as lead, and the matrix is about permissions, not planning)."""
    programme = AuditProgramme(title="方案", year=2026, created_at=NOW)
    session.add(programme)
    session.flush()
    audit = Audit(
        title="审核",
        lead_auditor_id=lead_id,
        programme_id=programme.id,
        planned_start=date(2026, 11, 1),
        planned_end=date(2026, 11, 30),
        status=AuditStatus.in_progress,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(audit)
    session.flush()
    department = make_department(session)
    item = ChecklistItem(
        audit_id=audit.id or 0,
        requirement_id=first_clause(session).id or 0,
        department_id=department.id or 0,
    )
    session.add_all([AuditMember(audit_id=audit.id or 0, user_id=lead_id), item])
    session.commit()
    return audit, item


def _nonconformity_owned_by(
    session: Session, owner_id: int
) -> tuple[Nonconformity, CorrectiveAction]:
    """A nonconformity, and an action on it, both owned by the acting user."""
    nonconformity = nc_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=NonconformityCreate(title="不符合", owner_id=owner_id),
    )
    action = nc_service.add_action(
        session=session,
        now=NOW,
        actor_id=None,
        nonconformity=nonconformity,
        data=CorrectiveActionCreate(description="措施", owner_id=owner_id),
    )
    session.commit()
    return nonconformity, action


def _review_chaired_by(session: Session, user_id: int) -> tuple[ManagementReview, ReviewAction]:
    """A held review chaired by the acting user, with an open action they own (written
    directly: the planning rules would refuse a chair outside top management)."""
    review = ManagementReview(
        title="管理评审",
        planned_on=date(2026, 11, 20),
        held_on=date(2026, 11, 20),
        chair_id=user_id,
        status=ReviewStatus.held,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(review)
    session.flush()
    action = ReviewAction(
        review_id=review.id or 0,
        description="措施",
        owner_id=user_id,
        due_date=date(2027, 1, 31),
        created_at=NOW,
    )
    session.add(action)
    session.commit()
    return review, action


def _fill(path: str, ids: dict[str, int | str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path


@pytest.mark.parametrize("role", list(Role))
def test_matrix(app: FastAPI, client: TestClient, session: Session, role: Role) -> None:
    user = make_user(session, roles=[role])
    other = make_user(session, roles=[Role.viewer])
    department = make_department(session)
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=user.id or 0, name="t"
    )
    session.commit()
    ids: dict[str, int | str] = {
        "requirement_id": first_clause(session).id or 0,
        "department_id": department.id or 0,
        "user_id": other.id or 0,
        "token_id": _token.id or 0,
        # Objects the acting user owns, leads or chairs: an allowed role must pass the
        # object-level checks too, not just fail later with a 404 for a missing id.
        **owned_objects(session, user.id or 0),
    }
    sign_in(client, session, user)
    checked = 0
    for method, path, permission in mutating_routes(app):
        if permission is None:
            continue
        url = _fill(path, ids)
        kwargs: dict[str, Any]
        if path.startswith("/api/"):
            kwargs = {"headers": {"Authorization": f"Bearer {secret}"}, "json": {}}
        else:
            kwargs = {"data": {"csrf_token": csrf(client)}}
        response = client.request(method, url, **kwargs)
        expected_allowed = role in GRANTS[permission]
        if expected_allowed:
            assert response.status_code != 403, f"{role} should be allowed {method} {path}"
            assert response.status_code < 500
        else:
            assert response.status_code == 403, f"{role} must get 403 on {method} {path}"
        checked += 1
    assert checked >= 35
