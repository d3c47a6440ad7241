"""New capabilities: create and edit, life-cycle stages, archive, the element matrix."""

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.models.capability import (
    STAGE_TRANSITIONS,
    Capability,
    CapabilityAdvantage,
    CapabilityCreate,
    CapabilityRequirement,
    Stage,
    StageChange,
)
from app.models.department import Department
from app.models.goal import Goal
from app.models.initiative import Element, Initiative, Task
from app.models.requirement import Requirement
from app.models.strategy import CompetitiveAdvantage
from app.models.user import User
from app.services.activity import service as activity
from app.services.loading import found


def get(*, session: Session, capability_id: int) -> Capability:
    return found(session.get(Capability, capability_id), _("This capability does not exist."))


def get_all(*, session: Session, include_archived: bool = False) -> list[Capability]:
    query = select(Capability).order_by(col(Capability.code))
    if not include_archived:
        query = query.where(col(Capability.archived_at).is_(None))
    return list(session.exec(query).all())


def advantage_ids(*, session: Session, capability_id: int) -> list[int]:
    return list(
        session.exec(
            select(CapabilityAdvantage.advantage_id).where(
                CapabilityAdvantage.capability_id == capability_id
            )
        ).all()
    )


def links(*, session: Session) -> list[tuple[int, int]]:
    """Every (capability, advantage) pair, for the strategy map."""
    rows = session.exec(select(CapabilityAdvantage.capability_id, CapabilityAdvantage.advantage_id))
    return [(c, a) for c, a in rows.all()]


def requirements(*, session: Session, capability_id: int) -> list[Requirement]:
    return list(
        session.exec(
            select(Requirement)
            .join(
                CapabilityRequirement, col(CapabilityRequirement.requirement_id) == Requirement.id
            )
            .where(CapabilityRequirement.capability_id == capability_id)
            .order_by(col(Requirement.position))
        ).all()
    )


def _check(session: Session, data: CapabilityCreate, capability_id: int | None) -> None:
    clash = session.exec(
        select(Capability).where(func.lower(Capability.code) == data.code.strip().lower())
    ).first()
    if clash is not None and clash.id != capability_id:
        raise Conflict(_("Another capability already uses this code."), field="code")
    owner = session.get(User, data.owner_id) if data.owner_id is not None else None
    if data.owner_id is not None and (owner is None or not owner.is_active):
        raise Invalid(_("Choose an active user as owner."), field="owner_id")
    if data.department_id is not None and session.get(Department, data.department_id) is None:
        raise Invalid(_("Choose an existing department."), field="department_id")
    for model, ids, name in (
        (CompetitiveAdvantage, data.advantage_ids, "advantage_ids"),
        (Requirement, data.requirement_ids, "requirement_ids"),
    ):
        if ids:
            found = session.exec(
                select(func.count()).select_from(model).where(col(model.id).in_(set(ids)))
            ).one()
            if found != len(set(ids)):
                raise Invalid(_("Choose one of the offered options."), field=name)
    if data.target_grade < data.current_grade:
        raise Invalid(
            _("The target grade cannot be below the current grade."), field="target_grade"
        )


def _set_links(session: Session, capability_id: int, data: CapabilityCreate) -> None:
    session.exec(
        delete(CapabilityAdvantage).where(col(CapabilityAdvantage.capability_id) == capability_id)
    )
    session.exec(
        delete(CapabilityRequirement).where(
            col(CapabilityRequirement.capability_id) == capability_id
        )
    )
    for advantage_id in sorted(set(data.advantage_ids)):
        session.add(CapabilityAdvantage(capability_id=capability_id, advantage_id=advantage_id))
    for requirement_id in sorted(set(data.requirement_ids)):
        session.add(
            CapabilityRequirement(capability_id=capability_id, requirement_id=requirement_id)
        )


def _fields(data: CapabilityCreate) -> dict[str, Any]:
    return data.model_dump(exclude={"advantage_ids", "requirement_ids"}) | {
        "code": data.code.strip()
    }


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: CapabilityCreate
) -> Capability:
    """A capability in the 'identified' stage, linked to advantages and requirements."""
    _check(session, data, None)
    capability = Capability(**_fields(data), created_at=now)
    session.add(capability)
    session.flush()
    assert capability.id is not None
    _set_links(session, capability.id, data)
    session.add(
        StageChange(capability_id=capability.id, to_stage=Stage.identified, at=now, by_id=actor_id)
    )
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type="capability",
        object_id=capability.id,
        after=data.model_dump(),
    )
    return capability


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    capability: Capability,
    data: CapabilityCreate,
) -> Capability:
    """Edit a capability's details, grades and links (not its stage)."""
    assert capability.id is not None
    _check(session, data, capability.id)
    fields = _fields(data)
    before, after = activity.changes(capability, fields)
    old_links = sorted(advantage_ids(session=session, capability_id=capability.id))
    if old_links != sorted(set(data.advantage_ids)):
        before["advantage_ids"], after["advantage_ids"] = old_links, sorted(set(data.advantage_ids))
    for name, value in fields.items():
        setattr(capability, name, value)
    session.add(capability)
    _set_links(session, capability.id, data)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="capability",
        object_id=capability.id,
        before=before,
        after=after,
    )
    return capability


def change_stage(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    capability: Capability,
    to: Stage,
    note: str,
) -> StageChange:
    """Move to the next life-cycle stage; skipping a stage is refused."""
    current = Stage(capability.stage)
    if to not in STAGE_TRANSITIONS[current]:
        raise Conflict(
            _("A capability cannot move from this stage to the one chosen."), field="stage"
        )
    assert capability.id is not None
    change = StageChange(
        capability_id=capability.id,
        from_stage=current,
        to_stage=to,
        at=now,
        by_id=actor_id,
        note=note.strip(),
    )
    capability.stage = to
    session.add_all([capability, change])
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="change_stage",
        object_type="capability",
        object_id=capability.id,
        before={"stage": current},
        after={"stage": to, "note": note.strip()},
    )
    return change


def stage_history(*, session: Session, capability_id: int) -> list[StageChange]:
    return list(
        session.exec(
            select(StageChange)
            .where(StageChange.capability_id == capability_id)
            .order_by(col(StageChange.id))
        ).all()
    )


def delete_or_refuse(
    *, session: Session, now: datetime, actor_id: int | None, capability: Capability
) -> None:
    """Delete a capability that has nothing hanging off it; one with goals must be archived."""
    goals = session.exec(
        select(func.count()).select_from(Goal).where(Goal.capability_id == capability.id)
    ).one()
    initiatives = session.exec(
        select(func.count())
        .select_from(Initiative)
        .where(Initiative.capability_id == capability.id)
    ).one()
    if goals or initiatives:
        raise Conflict(
            _(
                "This capability has %(goals)d goals and %(initiatives)d initiatives and cannot be "
                "deleted; archive it instead.",
                goals=goals,
                initiatives=initiatives,
            )
        )
    assert capability.id is not None
    _set_links(
        session, capability.id, CapabilityCreate(code=capability.code, title=capability.title)
    )
    session.exec(delete(StageChange).where(col(StageChange.capability_id) == capability.id))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="capability",
        object_id=capability.id,
        before={"code": capability.code, "title": capability.title},
    )
    session.delete(capability)


def archive(
    *, session: Session, now: datetime, actor_id: int | None, capability: Capability
) -> None:
    """Take a capability out of the active lists; its goals and history stay readable."""
    if capability.archived_at is not None:
        return
    capability.archived_at = now
    session.add(capability)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="archive",
        object_type="capability",
        object_id=capability.id,
    )


def element_rows(
    capabilities: list[Capability], matrix: dict[int, dict[Element, int]]
) -> list[tuple[Capability, list[int]]]:
    """Per capability, its tasks for each element in the elements' order (0: untouched), so
    the table's template looks nothing up per cell."""
    return [(c, [matrix.get(c.id or 0, {}).get(e, 0) for e in Element]) for c in capabilities]


def element_matrix(*, session: Session) -> dict[int, dict[Element, int]]:
    """Tasks per capability and element, counted by the database; absent = untouched."""
    rows = session.exec(
        select(Initiative.capability_id, Task.element, func.count())
        .join(Initiative, col(Initiative.id) == Task.initiative_id)
        .group_by(col(Initiative.capability_id), col(Task.element))
    ).all()
    matrix: dict[int, dict[Element, int]] = {}
    for capability_id, element, count in rows:
        matrix.setdefault(capability_id, {})[Element(element)] = count
    return matrix
