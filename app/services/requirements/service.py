"""The requirement tree with its statuses and per-chapter roll-up, and status editing."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

from sqlalchemy import ColumnElement, case, func
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
from app.services.accounts import users as user_service
from app.services.activity import service as activity
from app.services.requirements import coverage
from app.services.requirements.coverage import ChapterCoverage, Coverage

EXCLUSION_REASON_MIN = 10
# A filtered tree shows its matches at once up to this many; beyond, each chapter loads its
# matches when opened, so no filter makes the page render the whole catalogue.
EXPAND_MATCHES_MAX = 100


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
    coverage: Coverage = Coverage.none


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
    coverage: ChapterCoverage = field(default_factory=ChapterCoverage)
    # Clauses that pass the filters: every clause of the chapter when none is set.
    matches: int = 0
    # Only for a chapter shown open; the others load theirs when opened (`subtree`).
    clauses: list[TreeRow] | None = None


@dataclass
class Tree:
    chapters: list[Chapter]
    matches: int

    @property
    def opened(self) -> bool:
        return any(c.clauses is not None for c in self.chapters)


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


def _conditions(filters: TreeFilter) -> list[ColumnElement[bool]]:
    """The filters as conditions on RequirementStatus."""
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(col(RequirementStatus.implementation_status) == filters.status)
    if filters.owner_id is not None:
        conditions.append(col(RequirementStatus.owner_id) == filters.owner_id)
    if filters.department_id is not None:
        conditions.append(col(RequirementStatus.department_id) == filters.department_id)
    if filters.applicable is not None:
        conditions.append(col(RequirementStatus.applicable) == filters.applicable)
    return conditions


def _rows(
    *, session: Session, scope: ColumnElement[bool], filters: TreeFilter, today: date
) -> list[TreeRow]:
    """The requirements in `scope` that pass the filters, in catalogue order, with owner,
    department and coverage level: one statement however many there are."""
    query = (
        sa_select(
            Requirement,
            RequirementStatus,
            col(User.name),
            col(Department.name),
            coverage.level(today),
        )
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .outerjoin(User, col(User.id) == RequirementStatus.owner_id)
        .outerjoin(Department, col(Department.id) == RequirementStatus.department_id)
        .where(scope, *_conditions(filters))
        .order_by(col(Requirement.position))
    )
    rows = cast(
        "list[tuple[Requirement, RequirementStatus, str | None, str | None, int]]",
        session.execute(query).all(),
    )
    return [
        TreeRow(req, status, owner, department, Coverage(level))
        for req, status, owner, department, level in rows
    ]


def _matches(*, session: Session, framework_id: int, filters: TreeFilter) -> dict[int, int]:
    """Clauses per chapter that pass the filters."""
    query = (
        sa_select(col(Requirement.chapter_id), func.count())
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(
            col(Requirement.framework_id) == framework_id,
            col(Requirement.chapter_id).is_not(None),
            *_conditions(filters),
        )
        .group_by(col(Requirement.chapter_id))
    )
    return dict(cast("list[tuple[int, int]]", session.execute(query).all()))


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


def tree(
    *,
    session: Session,
    framework_id: int,
    filters: TreeFilter,
    today: date,
    open_chapter: int | None = None,
) -> Tree:
    """The chapters with their roll-ups, and the clauses of those shown open: the one asked
    for, or every chapter with a match when a filter leaves few enough to show at once.
    Chapters without a match are left out while a filter is set; filters never narrow the
    roll-ups. A bounded number of statements, however big the catalogue."""
    rows = session.exec(
        select(Requirement, RequirementStatus)
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(Requirement.framework_id == framework_id, col(Requirement.chapter_id).is_(None))
        .order_by(col(Requirement.position))
    ).all()
    rollups = rollup(session=session, framework_id=framework_id)
    coverages = coverage.by_chapter(session=session, framework_id=framework_id, today=today)
    matches = (
        _matches(session=session, framework_id=framework_id, filters=filters)
        if filters.active
        else {chapter_id: r.total for chapter_id, r in rollups.items()}
    )
    chapters: dict[int, Chapter] = {}
    for req, status in rows:
        assert req.id is not None
        if filters.active and not matches.get(req.id):
            continue
        chapters[req.id] = Chapter(
            req,
            status,
            rollups.get(req.id, ChapterRollup()),
            coverages.get(req.id, ChapterCoverage()),
            matches.get(req.id, 0),
        )
    total = sum(c.matches for c in chapters.values())
    if filters.active and total <= EXPAND_MATCHES_MAX:
        opened = list(chapters)
    else:
        opened = [open_chapter] if open_chapter in chapters else []
    if opened:
        for chapter in opened:
            chapters[chapter].clauses = []
        scope = col(Requirement.chapter_id).in_(opened)
        for row in _rows(session=session, scope=scope, filters=filters, today=today):
            assert row.requirement.chapter_id is not None
            clauses = chapters[row.requirement.chapter_id].clauses
            assert clauses is not None
            clauses.append(row)
    return Tree(list(chapters.values()), total)


def subtree(
    *, session: Session, node: Requirement, filters: TreeFilter, today: date
) -> list[TreeRow]:
    """Every requirement below `node` (a chapter or any clause) that passes the filters."""
    if node.chapter_id is None:
        return _rows(
            session=session,
            scope=col(Requirement.chapter_id) == node.id,
            filters=filters,
            today=today,
        )
    below = (
        sa_select(col(Requirement.id))
        .where(col(Requirement.parent_id) == node.id)
        .cte("below", recursive=True)
    )
    below = below.union_all(
        sa_select(col(Requirement.id)).join(below, col(Requirement.parent_id) == below.c.id)
    )
    return _rows(
        session=session,
        scope=col(Requirement.id).in_(sa_select(below.c.id)),
        filters=filters,
        today=today,
    )


def owners(
    *, session: Session, framework_id: int, chosen: int | None = None
) -> list[tuple[int, str]]:
    """The people who own a requirement of the framework, and the one a filter names."""
    owning = (
        sa_select(col(RequirementStatus.owner_id))
        .join(Requirement, col(Requirement.id) == RequirementStatus.requirement_id)
        .where(col(Requirement.framework_id) == framework_id)
    )
    return user_service.options_among(session=session, user_ids=owning, chosen=chosen)


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
