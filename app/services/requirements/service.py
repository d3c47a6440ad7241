"""The requirement tree with its statuses and per-chapter roll-up, and status editing."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.errors import Invalid, NotFound
from app.i18n import gettext as _
from app.models.department import Department
from app.models.requirement import (
    Framework,
    ImplementationStatus,
    Requirement,
    RequirementStatus,
    RequirementStatusUpdate,
)
from app.models.user import User
from app.services.activity import service as activity

EXCLUSION_REASON_MIN = 10


@dataclass(frozen=True)
class TreeFilter:
    status: ImplementationStatus | None = None
    owner_id: int | None = None
    department_id: int | None = None
    applicable: bool | None = None

    @property
    def active(self) -> bool:
        return any(
            v is not None for v in (self.status, self.owner_id, self.department_id, self.applicable)
        )


@dataclass
class TreeRow:
    requirement: Requirement
    status: RequirementStatus
    owner_name: str | None
    department_name: str | None


@dataclass
class ChapterRollup:
    total: int = 0
    applicable: int = 0
    implemented: int = 0
    in_progress: int = 0
    unowned: int = 0

    @property
    def implemented_percent(self) -> int:
        return round(100 * self.implemented / self.applicable) if self.applicable else 0


@dataclass
class Chapter:
    requirement: Requirement
    status: RequirementStatus
    rollup: ChapterRollup
    clauses: list[TreeRow] = field(default_factory=list)


def clauses(*, session: Session) -> list[Requirement]:
    """Every clause (not chapter) in catalogue order, for pickers."""
    return list(
        session.exec(
            select(Requirement)
            .where(col(Requirement.chapter_id).is_not(None))
            .order_by(col(Requirement.framework_id), col(Requirement.position))
        ).all()
    )


def get_frameworks(*, session: Session) -> list[Framework]:
    return list(session.exec(select(Framework).order_by(col(Framework.id))).all())


def get_framework(*, session: Session, framework_id: int | None) -> Framework | None:
    """The framework asked for, or the first one loaded."""
    if framework_id is not None:
        return session.get(Framework, framework_id)
    return session.exec(select(Framework).order_by(col(Framework.id)).limit(1)).first()


def _rows_query(framework_id: int):  # type: ignore[no-untyped-def]
    return (
        select(Requirement, RequirementStatus, User.name, Department.name)
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .outerjoin(User, col(User.id) == RequirementStatus.owner_id)
        .outerjoin(Department, col(Department.id) == RequirementStatus.department_id)
        .where(Requirement.framework_id == framework_id)
        .order_by(col(Requirement.position))
    )


def rollup(*, session: Session, framework_id: int) -> dict[int, ChapterRollup]:
    """Per-chapter counts over its clauses, computed by the database in one GROUP BY."""
    applicable = col(RequirementStatus.applicable)
    # SQLModel's typed select stops at four columns; this aggregate uses SQLAlchemy's.
    query = (
        sa_select(
            col(Requirement.chapter_id),
            func.count(),
            func.sum(case((applicable, 1), else_=0)),
            func.sum(
                case(
                    (
                        applicable
                        & (
                            RequirementStatus.implementation_status
                            == ImplementationStatus.implemented
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (
                        applicable
                        & (
                            RequirementStatus.implementation_status
                            == ImplementationStatus.in_progress
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(case((applicable & col(RequirementStatus.owner_id).is_(None), 1), else_=0)),
        )
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(
            col(Requirement.framework_id) == framework_id, col(Requirement.chapter_id).is_not(None)
        )
        .group_by(col(Requirement.chapter_id))
    )
    result: dict[int, ChapterRollup] = {}
    for row in session.execute(query).all():
        # Every column is an id or a count; SUM over no rows gives NULL.
        chapter_id, total, app, done, doing, unowned = (
            int(v or 0) for v in cast("tuple[int | None, ...]", row)
        )
        result[chapter_id] = ChapterRollup(
            total=total, applicable=app, implemented=done, in_progress=doing, unowned=unowned
        )
    return result


def tree(*, session: Session, framework_id: int, filters: TreeFilter) -> list[Chapter]:
    """Chapters with their clauses; filters narrow the clauses, chapters keep full roll-ups."""
    query = _rows_query(framework_id)
    if filters.status is not None:
        query = query.where(RequirementStatus.implementation_status == filters.status)
    if filters.owner_id is not None:
        query = query.where(RequirementStatus.owner_id == filters.owner_id)
    if filters.department_id is not None:
        query = query.where(RequirementStatus.department_id == filters.department_id)
    if filters.applicable is not None:
        query = query.where(RequirementStatus.applicable == filters.applicable)
    if filters.active:
        # Chapters themselves always show, as headings for the clauses that matched.
        query = query.where(col(Requirement.chapter_id).is_not(None))
        chapter_rows = session.exec(
            _rows_query(framework_id).where(col(Requirement.chapter_id).is_(None))
        ).all()
    else:
        chapter_rows = []
    rollups = rollup(session=session, framework_id=framework_id)
    chapters: dict[int, Chapter] = {}
    for req, status, owner_name, department_name in [*chapter_rows, *session.exec(query).all()]:
        assert req.id is not None
        if req.chapter_id is None:
            chapters[req.id] = Chapter(req, status, rollups.get(req.id, ChapterRollup()))
        elif req.chapter_id in chapters:
            chapters[req.chapter_id].clauses.append(
                TreeRow(req, status, owner_name, department_name)
            )
    ordered = sorted(chapters.values(), key=lambda c: c.requirement.position)
    return [c for c in ordered if c.clauses or not filters.active]


def get(*, session: Session, requirement_id: int) -> tuple[Requirement, RequirementStatus]:
    row = session.exec(
        select(Requirement, RequirementStatus)
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(Requirement.id == requirement_id)
    ).first()
    if row is None:
        raise NotFound(_("This requirement does not exist."))
    return row[0], row[1]


def update_status(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    status: RequirementStatus,
    data: RequirementStatusUpdate,
) -> RequirementStatus:
    """Set applicability, owner, department and progress; an exclusion must be justified."""
    reason = data.exclusion_reason.strip()
    if not data.applicable and len(reason) < EXCLUSION_REASON_MIN:
        raise Invalid(
            _(
                "Explain in at least %(min)d characters why this requirement does not apply.",
                min=EXCLUSION_REASON_MIN,
            ),
            field="exclusion_reason",
        )
    if data.owner_id is not None:
        owner = session.get(User, data.owner_id)
        if owner is None or not owner.is_active:
            raise Invalid(_("Choose an active user as owner."), field="owner_id")
    if data.department_id is not None and session.get(Department, data.department_id) is None:
        raise Invalid(_("Choose an existing department."), field="department_id")
    fields = {
        "applicable": data.applicable,
        "exclusion_reason": reason if not data.applicable else "",
        "owner_id": data.owner_id,
        "department_id": data.department_id,
        "implementation_status": data.implementation_status,
        "notes": data.notes.strip(),
    }
    before, after = activity.changes(status, fields)
    if not after:
        return status
    for name, value in fields.items():
        setattr(status, name, value)
    status.updated_at = now
    status.updated_by_id = actor_id
    session.add(status)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="requirement_status",
        object_id=status.requirement_id,
        before=before,
        after=after,
    )
    return status
