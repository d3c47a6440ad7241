"""Links between evidence and what it proves: requirements, capabilities, goals, tasks."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, delete, select

from app.errors import Invalid, NotFound
from app.i18n import N_
from app.i18n import gettext as _
from app.models.capability import Capability
from app.models.evidence import (
    Evidence,
    EvidenceCapability,
    EvidenceGoal,
    EvidenceRequirement,
    EvidenceTask,
)
from app.models.goal import Goal
from app.models.initiative import Task
from app.models.requirement import Requirement
from app.services.activity import service as activity


@dataclass(frozen=True)
class LinkKind:
    link: type[SQLModel]
    column: str
    target: type[SQLModel]
    label: str
    url: str


KINDS: dict[str, LinkKind] = {
    "requirement": LinkKind(
        EvidenceRequirement, "requirement_id", Requirement, N_("Requirement"), "/requirements/{id}"
    ),
    "capability": LinkKind(
        EvidenceCapability, "capability_id", Capability, N_("Capability"), "/capabilities/{id}"
    ),
    "goal": LinkKind(EvidenceGoal, "goal_id", Goal, N_("Goal"), "/goals/{id}"),
    "task": LinkKind(EvidenceTask, "task_id", Task, N_("Task"), "/capabilities"),
}


def kind(name: str) -> LinkKind:
    if name not in KINDS:
        raise Invalid(_("Choose one of the offered options."), field="kind")
    return KINDS[name]


def _title(target: Any) -> str:
    if isinstance(target, Requirement):
        return f"{target.clause} {target.title_zh}"
    if isinstance(target, Goal):
        return target.indicator
    return str(getattr(target, "title", ""))


def link(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    kind_name: str,
    target_id: int,
) -> None:
    """Link evidence to a target; linking twice is harmless."""
    spec = kind(kind_name)
    if session.get(spec.target, target_id) is None:
        raise NotFound(_("The item to link does not exist."))
    key = {"evidence_id": evidence.id, spec.column: target_id}
    if session.get(spec.link, (evidence.id, target_id)) is not None:
        return
    session.add(spec.link(**key))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="link",
        object_type="evidence",
        object_id=evidence.id,
        after={"kind": kind_name, "target_id": target_id},
    )


def unlink(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    kind_name: str,
    target_id: int,
) -> None:
    spec = kind(kind_name)
    link_table: Any = spec.link
    session.exec(
        delete(link_table).where(
            col(link_table.evidence_id) == evidence.id,
            col(getattr(link_table, spec.column)) == target_id,
        )
    )
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="unlink",
        object_type="evidence",
        object_id=evidence.id,
        before={"kind": kind_name, "target_id": target_id},
    )


@dataclass(frozen=True)
class Linked:
    kind: str
    target_id: int
    title: str
    url: str


def linked(*, session: Session, evidence_id: int) -> list[Linked]:
    """Everything an evidence item is linked to, one query per kind."""
    result: list[Linked] = []
    for name, spec in KINDS.items():
        link_table: Any = spec.link
        target: Any = spec.target
        rows = session.exec(
            select(target)
            .join(link_table, col(getattr(link_table, spec.column)) == target.id)
            .where(col(link_table.evidence_id) == evidence_id)
        ).all()
        result.extend(Linked(name, row.id, _title(row), spec.url.format(id=row.id)) for row in rows)
    return result
