"""Audit programmes and audits: scope, team, auditor independence, status.

The checklist (one item per requirement × department) follows the scope while the audit is
planned and is fixed once it starts. An auditor whose own department is in the scope is a
conflict of independence; the audit cannot start until an administrator overrides each
conflict with a reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.clock import local_date
from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.models.audit import (
    NEXT_AUDIT_STATUS,
    Audit,
    AuditCreate,
    AuditDepartment,
    AuditKind,
    AuditMember,
    AuditProgramme,
    AuditProgrammeCreate,
    AuditRequirement,
    AuditStatus,
    ChecklistItem,
    ChecklistResult,
    Finding,
)
from app.models.department import Department
from app.models.pdca import PdcaCycle
from app.models.requirement import Requirement
from app.models.user import Role, User
from app.services.accounts import users as user_service
from app.services.activity import service as activity
from app.services.loading import found

AUDITOR_ROLES = frozenset({Role.auditor, Role.admin})


@dataclass(frozen=True)
class Scope:
    member_ids: Sequence[int]  # the team besides the lead
    requirement_ids: Sequence[int]
    department_ids: Sequence[int]


@dataclass(frozen=True)
class TeamMember:
    user: User
    is_lead: bool
    conflict: bool  # their own department is in the scope
    member: AuditMember


def get_programme(*, session: Session, programme_id: int) -> AuditProgramme:
    return found(
        session.get(AuditProgramme, programme_id), _("This audit programme does not exist.")
    )


def get(*, session: Session, audit_id: int) -> Audit:
    return found(session.get(Audit, audit_id), _("This audit does not exist."))


def programmes(*, session: Session) -> list[AuditProgramme]:
    return list(
        session.exec(
            select(AuditProgramme).order_by(col(AuditProgramme.year).desc(), col(AuditProgramme.id))
        ).all()
    )


def create_programme(
    *, session: Session, now: datetime, actor_id: int | None, data: AuditProgrammeCreate
) -> AuditProgramme:
    if data.cycle_id is not None and session.get(PdcaCycle, data.cycle_id) is None:
        raise Invalid(_("Choose one of the offered options."), field="cycle_id")
    programme = AuditProgramme(**data.model_dump(), created_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=programme,
        object_type="audit_programme",
        after=data.model_dump(),
    )
    return programme


def _check(session: Session, data: AuditCreate, scope: Scope) -> None:
    if data.planned_end < data.planned_start:
        raise Invalid(_("The end cannot be before the start."), field="planned_end")
    if data.programme_id is not None and session.get(AuditProgramme, data.programme_id) is None:
        raise Invalid(_("Choose one of the offered options."), field="programme_id")
    team = {data.lead_auditor_id, *scope.member_ids}
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(team))).all()}
    roles = user_service.roles_by_user(session=session, user_ids=team)
    for user_id in team:
        user = users.get(user_id)
        field = "lead_auditor_id" if user_id == data.lead_auditor_id else "member_ids"
        if user is None or not user.is_active:
            raise Invalid(_("Choose active users."), field=field)
        # External audits are led by the certification body; our lead is the contact person.
        if data.kind == AuditKind.internal and AUDITOR_ROLES.isdisjoint(roles.get(user_id, ())):
            raise Invalid(_("%(name)s is not an internal auditor.", name=user.name), field=field)
    if not scope.requirement_ids:
        raise Invalid(_("Choose at least one clause."), field="requirement_ids")
    if not scope.department_ids:
        raise Invalid(_("Choose at least one department."), field="department_ids")
    found = session.exec(
        select(func.count()).where(
            col(Requirement.id).in_(scope.requirement_ids), col(Requirement.chapter_id).is_not(None)
        )
    ).one()
    if found != len(set(scope.requirement_ids)):
        raise Invalid(_("Choose one of the offered options."), field="requirement_ids")
    found = session.exec(
        select(func.count()).where(col(Department.id).in_(scope.department_ids))
    ).one()
    if found != len(set(scope.department_ids)):
        raise Invalid(_("Choose one of the offered options."), field="department_ids")


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: AuditCreate, scope: Scope
) -> Audit:
    _check(session, data, scope)
    audit = Audit(**data.model_dump(), created_at=now, updated_at=now)
    session.add(audit)
    session.flush()
    _write_scope(session, audit, scope)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=audit,
        object_type="audit",
        after={**data.model_dump(), **_scope_dict(scope)},
    )
    return audit


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    audit: Audit,
    data: AuditCreate,
    scope: Scope,
) -> Audit:
    """Planning changes; the scope and team are fixed once the audit has started."""
    if audit.status != AuditStatus.planned:
        raise Conflict(_("Only a planned audit can be changed; this one has started."))
    _check(session, data, scope)
    before_scope = _scope_dict(current_scope(session=session, audit=audit))
    before, after = activity.changes(audit, data.model_dump())
    for name, value in data.model_dump().items():
        setattr(audit, name, value)
    audit.updated_at = now
    session.add(audit)
    _write_scope(session, audit, scope)
    if _scope_dict(scope) != before_scope:
        before, after = {**before, **before_scope}, {**after, **_scope_dict(scope)}
    if after:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="audit",
            object_id=audit.id,
            before=before,
            after=after,
        )
    return audit


def _scope_dict(scope: Scope) -> dict[str, list[int]]:
    return {
        "member_ids": sorted(set(scope.member_ids)),
        "requirement_ids": sorted(set(scope.requirement_ids)),
        "department_ids": sorted(set(scope.department_ids)),
    }


def current_scope(*, session: Session, audit: Audit) -> Scope:
    members = session.exec(
        select(AuditMember.user_id).where(
            AuditMember.audit_id == audit.id, AuditMember.user_id != audit.lead_auditor_id
        )
    ).all()
    requirements = session.exec(
        select(AuditRequirement.requirement_id).where(AuditRequirement.audit_id == audit.id)
    ).all()
    departments = session.exec(
        select(AuditDepartment.department_id).where(AuditDepartment.audit_id == audit.id)
    ).all()
    return Scope(list(members), list(requirements), list(departments))


def _write_scope(session: Session, audit: Audit, scope: Scope) -> None:
    """Replace team and scope, keeping overrides of members who stay, and bring the
    checklist in line: one item per requirement × department, in catalogue order."""
    assert audit.id is not None
    audit_id = audit.id
    team = {audit.lead_auditor_id, *scope.member_ids}
    session.exec(
        delete(AuditMember).where(
            col(AuditMember.audit_id) == audit_id, col(AuditMember.user_id).not_in(team)
        )
    )
    kept = set(session.exec(select(AuditMember.user_id).where(AuditMember.audit_id == audit_id)))
    session.add_all(AuditMember(audit_id=audit_id, user_id=u) for u in team - kept)
    session.exec(delete(AuditRequirement).where(col(AuditRequirement.audit_id) == audit_id))
    session.exec(delete(AuditDepartment).where(col(AuditDepartment.audit_id) == audit_id))
    session.add_all(
        AuditRequirement(audit_id=audit_id, requirement_id=r) for r in set(scope.requirement_ids)
    )
    session.add_all(
        AuditDepartment(audit_id=audit_id, department_id=d) for d in set(scope.department_ids)
    )
    session.exec(
        delete(ChecklistItem).where(
            col(ChecklistItem.audit_id) == audit_id,
            col(ChecklistItem.requirement_id).not_in(scope.requirement_ids)
            | col(ChecklistItem.department_id).not_in(scope.department_ids),
        )
    )
    existing = set(
        session.exec(
            select(ChecklistItem.requirement_id, ChecklistItem.department_id).where(
                ChecklistItem.audit_id == audit_id
            )
        ).all()
    )
    requirements = session.exec(
        select(Requirement.id, Requirement.position)
        .where(col(Requirement.id).in_(scope.requirement_ids))
        .order_by(col(Requirement.framework_id), col(Requirement.position))
    ).all()
    departments = sorted(set(scope.department_ids))
    session.add_all(
        ChecklistItem(
            audit_id=audit_id,
            requirement_id=requirement_id or 0,
            department_id=department_id,
            position=index * len(departments) + column,
        )
        for index, (requirement_id, _position) in enumerate(requirements)
        for column, department_id in enumerate(departments)
        if (requirement_id, department_id) not in existing
    )
    session.flush()


def team(*, session: Session, audit: Audit) -> list[TeamMember]:
    """The lead first, then members by name, each flagged when their department is audited."""
    audited = set(
        session.exec(
            select(AuditDepartment.department_id).where(AuditDepartment.audit_id == audit.id)
        ).all()
    )
    rows = session.exec(
        select(AuditMember, User)
        .join(User, col(User.id) == AuditMember.user_id)
        .where(AuditMember.audit_id == audit.id)
        .order_by(col(User.name))
    ).all()
    members = [
        TeamMember(
            user=user,
            is_lead=user.id == audit.lead_auditor_id,
            conflict=user.department_id is not None and user.department_id in audited,
            member=member,
        )
        for member, user in rows
    ]
    return sorted(members, key=lambda m: not m.is_lead)


def unresolved_conflicts(members: Sequence[TeamMember]) -> list[TeamMember]:
    return [m for m in members if m.conflict and not m.member.independence_override]


def override_independence(
    *, session: Session, now: datetime, actor_id: int, audit: Audit, user_id: int, reason: str
) -> AuditMember:
    """Let an auditor audit their own department, on the record and with a reason."""
    member = session.get(AuditMember, (audit.id, user_id))
    if member is None:
        raise NotFound(_("This auditor is not on the team."))
    if audit.status == AuditStatus.closed:
        raise Conflict(_("This audit is closed."))
    reason = reason.strip()
    if not reason:
        raise Invalid(_("Give the reason for the override."), field="reason")
    if len(reason) > 1000:
        raise Invalid(_("Use at most %(max)d characters.", max=1000), field="reason")
    member.independence_override = reason
    member.override_by_id = actor_id
    member.override_at = now
    session.add(member)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="override_independence",
        object_type="audit",
        object_id=audit.id,
        after={"user_id": user_id, "reason": reason},
    )
    return member


def is_on_team(*, session: Session, audit: Audit, user_id: int) -> bool:
    return session.get(AuditMember, (audit.id, user_id)) is not None


def advance(
    *, session: Session, now: datetime, actor_id: int | None, audit: Audit, to: AuditStatus
) -> Audit:
    """planned → in progress → reporting → closed, one step at a time."""
    if NEXT_AUDIT_STATUS.get(audit.status) != to:
        raise Conflict(
            _("An audit moves one step at a time: planned, in progress, reporting, closed.")
        )
    if to == AuditStatus.in_progress:
        blocked = unresolved_conflicts(team(session=session, audit=audit))
        if blocked:
            names = "、".join(m.user.name for m in blocked)
            raise Conflict(
                _(
                    "%(names)s would audit their own department; an administrator must "
                    "override this with a reason first.",
                    names=names,
                )
            )
        audit.actual_start = local_date(now)
    if to == AuditStatus.reporting:
        audit.actual_end = local_date(now)
    if to == AuditStatus.closed:
        if not audit.summary.strip():
            raise Conflict(_("Write the audit conclusion before closing the audit."))
        unraised = session.exec(
            select(func.count()).where(
                Finding.audit_id == audit.id,
                col(Finding.grade).in_((ChecklistResult.major_nc, ChecklistResult.minor_nc)),
                col(Finding.nonconformity_id).is_(None),
            )
        ).one()
        if unraised:
            raise Conflict(_("Every nonconformity finding needs its nonconformity record."))
    before = {"status": audit.status}
    audit.status = to
    audit.updated_at = now
    session.add(audit)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="audit",
        object_id=audit.id,
        before=before,
        after={"status": to},
    )
    return audit


def set_summary(
    *, session: Session, now: datetime, actor_id: int | None, audit: Audit, summary: str
) -> Audit:
    if audit.status == AuditStatus.closed:
        raise Conflict(_("This audit is closed."))
    if len(summary) > 4000:
        raise Invalid(_("Use at most %(max)d characters.", max=4000), field="summary")
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=audit,
        fields={"summary": summary},
        object_type="audit",
    )
    return audit
