"""Building audits for tests: a programme, an audit with a scope, a started audit."""

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.models.audit import Audit, AuditCreate, AuditStatus
from app.models.requirement import Requirement
from app.models.user import Role, User
from app.services.audits import service as audit_service
from tests.conftest import NOW, make_department, make_user


def clauses(session: Session, n: int) -> list[Requirement]:
    return list(
        session.exec(
            select(Requirement)
            .where(col(Requirement.chapter_id).is_not(None))
            .order_by(col(Requirement.position))
            .limit(n)
        ).all()
    )


def make_audit(
    session: Session,
    *,
    lead: User | None = None,
    members: list[User] | None = None,
    requirements: list[Requirement] | None = None,
    department_ids: list[int] | None = None,
    start: bool = False,
    **overrides: Any,
) -> Audit:
    lead = lead or make_user(session, roles=[Role.auditor])
    requirements = requirements or clauses(session, 2)
    department_ids = department_ids or [make_department(session).id or 0]
    audit = audit_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=AuditCreate(
            **{
                "title": "2026年第一次内部审核",
                "lead_auditor_id": lead.id or 0,
                "planned_start": date(2026, 11, 20),
                "planned_end": date(2026, 11, 30),
                **overrides,
            }
        ),
        scope=audit_service.Scope(
            member_ids=[m.id or 0 for m in members or []],
            requirement_ids=[r.id or 0 for r in requirements],
            department_ids=department_ids,
        ),
    )
    if start:
        audit_service.advance(
            session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.in_progress
        )
    session.commit()
    return audit
