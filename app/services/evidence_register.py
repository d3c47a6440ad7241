"""The evidence register: search, filters, sort and pages, computed by the database."""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.deps import Viewer
from app.models.department import Department
from app.models.evidence import (
    Evidence,
    EvidenceKind,
    EvidenceRequirement,
    EvidenceRevision,
    EvidenceStatus,
)
from app.models.user import User
from app.pagination import Page
from app.services.evidence import current_clause, expired_clause
from app.services.evidence_access import visible_clause

DUE_SOON_DAYS = 30


class Sort(StrEnum):
    # Member names avoid str's own methods (str.title).
    by_updated = "updated"
    by_title = "title"
    by_review = "review"


@dataclass(frozen=True)
class RegisterFilter:
    q: str = ""
    status: str = ""  # an EvidenceStatus, or "expired"
    kind: EvidenceKind | None = None
    owner_id: int | None = None
    department_id: int | None = None
    requirement_id: int | None = None
    due: bool = False
    sort: Sort = Sort.by_updated


@dataclass
class RegisterRow:
    evidence: Evidence
    owner_name: str | None
    department_name: str | None
    latest_name: str | None
    current: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


ORDERS: dict[Sort, list[Any]] = {
    Sort.by_updated: [col(Evidence.updated_at).desc(), col(Evidence.id).desc()],
    Sort.by_title: [col(Evidence.title), col(Evidence.id)],
    Sort.by_review: [
        col(Evidence.next_review_date).is_(None),
        col(Evidence.next_review_date),
        col(Evidence.id),
    ],
}


def _text_match(session: Session, text: str, *, walked: bool) -> ColumnElement[bool]:
    """Title, description, reference or any revision's file name contains the text, ignoring
    case. `walked`: the query reads evidence rows in an index's order and stops once a page
    is full, so only those rows need their file names checked."""
    pattern = _like(text)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE already ignores ASCII case, and its lower() knows no other letters:
        # lower() around every column would only cost time (half the search on 20,000 items).
        def contains(column: Any) -> ColumnElement[bool]:
            return cast("ColumnElement[bool]", column.like(pattern, escape="\\"))
    else:

        def contains(column: Any) -> ColumnElement[bool]:
            return cast("ColumnElement[bool]", column.ilike(pattern, escape="\\"))

    in_files: ColumnElement[bool]
    if walked:
        in_files = exists().where(
            col(EvidenceRevision.evidence_id) == Evidence.id,
            contains(col(EvidenceRevision.original_name)),
        )
    else:
        # Testing every evidence row: read the revisions once (uncorrelated), not once per row.
        in_files = col(Evidence.id).in_(
            select(EvidenceRevision.evidence_id).where(
                contains(col(EvidenceRevision.original_name))
            )
        )
    return or_(
        contains(col(Evidence.title)),
        contains(col(Evidence.description)),
        contains(func.coalesce(Evidence.reference, "")),
        in_files,
    )


def _conditions(
    session: Session, viewer: Viewer, filters: RegisterFilter, today: date, *, walked: bool
) -> list[ColumnElement[bool]]:
    """The filters as WHERE clauses on the evidence table alone."""
    conditions = [visible_clause(viewer)]
    if filters.q.strip():
        conditions.append(_text_match(session, filters.q.strip(), walked=walked))
    if filters.status == "expired":
        conditions.append(expired_clause(today))
    elif filters.status:
        conditions.append(col(Evidence.status) == filters.status)
    if filters.kind is not None:
        conditions.append(col(Evidence.kind) == filters.kind)
    if filters.owner_id is not None:
        conditions.append(col(Evidence.owner_id) == filters.owner_id)
    if filters.department_id is not None:
        conditions.append(col(Evidence.department_id) == filters.department_id)
    if filters.requirement_id is not None:
        conditions.append(
            exists().where(
                col(EvidenceRequirement.evidence_id) == Evidence.id,
                col(EvidenceRequirement.requirement_id) == filters.requirement_id,
            )
        )
    if filters.due:
        conditions.append(col(Evidence.status) != EvidenceStatus.obsolete)
        conditions.append(col(Evidence.next_review_date) <= today + timedelta(days=DUE_SOON_DAYS))
    return conditions


def search(
    *, session: Session, viewer: Viewer, filters: RegisterFilter, page: Page, today: date
) -> tuple[list[RegisterRow], int]:
    """One page of the register the viewer may see, and the total count."""
    # The count needs only the filters: no joins, no per-row display columns.
    total = session.exec(
        select(func.count())
        .select_from(Evidence)
        .where(*_conditions(session, viewer, filters, today, walked=False))
    ).one()
    if total <= page.offset:
        return [], total
    order_by = ORDERS[filters.sort]
    # Choose the page's rows first, so the per-row work below (latest file name, "current")
    # runs for these rows only, not for every match before sorting.
    # Newest first reads ix_evidence_updated_at backwards and stops after the page; the other
    # orders have no usable index, so every row is tested before sorting.
    walked = filters.sort is Sort.by_updated
    on_page = (
        select(Evidence.id)
        .where(*_conditions(session, viewer, filters, today, walked=walked))
        .order_by(*order_by)
        .offset(page.offset)
        .limit(page.size)
        .subquery()
    )
    latest_name = (
        select(EvidenceRevision.original_name)
        .where(col(EvidenceRevision.evidence_id) == Evidence.id)
        .order_by(col(EvidenceRevision.number).desc())
        .limit(1)
        .correlate(Evidence)
        .scalar_subquery()
    )
    query = (
        sa_select(
            Evidence, col(User.name), col(Department.name), latest_name, current_clause(today)
        )
        .join(on_page, on_page.c.id == Evidence.id)
        .outerjoin(User, col(User.id) == Evidence.owner_id)
        .outerjoin(Department, col(Department.id) == Evidence.department_id)
        .order_by(*order_by)
    )
    rows = session.execute(query).all()
    typed = cast("list[tuple[Evidence, str | None, str | None, str | None, bool]]", rows)
    return [
        RegisterRow(e, owner, dept, name, bool(cur)) for e, owner, dept, name, cur in typed
    ], total
