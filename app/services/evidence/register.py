"""The evidence register: search, filters, sort and pages, computed by the database."""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, exists, func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.actor import Actor
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
from app.services.evidence.access import visible_clause
from app.services.evidence.service import current_clause, expired_clause, fold

DUE_SOON_DAYS = 30
SCAN_COST_RATIO = 4  # measured on SQLite: an index-order row read vs. a row tested in a scan


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


def _text_match(text: str, *, rare: bool = False) -> ColumnElement[bool]:
    """Title, description, reference or any revision's file name contains the text, ignoring
    case (all of them are in `search_text`, folded the same way).

    `rare`: SQLite's planner cannot tell a rare match from a common one and, for the newest
    first, walks ix_evidence_updated_at until the page is full. For a reference number that
    means every row (20 ms at 20,000 items); told the match is rare, it tests each row once
    and sorts the few matches (5 ms). PostgreSQL's planner estimates this itself."""
    match = col(Evidence.search_text).like(_like(fold(text)), escape="\\")
    if not rare:
        return match
    return cast("ColumnElement[bool]", func.likelihood(match, literal_column("0.001")))


def _conditions(
    actor: Actor, filters: RegisterFilter, today: date, *, rare: bool = False
) -> list[ColumnElement[bool]]:
    """The filters as WHERE clauses on the evidence table alone."""
    conditions = [visible_clause(actor)]
    if filters.q.strip():
        conditions.append(_text_match(filters.q.strip(), rare=rare))
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
    *, session: Session, actor: Actor, filters: RegisterFilter, page: Page, today: date
) -> tuple[list[RegisterRow], int]:
    """One page of the register the actor may see, and the total count."""
    # The count needs only the filters: no joins, no per-row display columns.
    total = session.exec(
        select(func.count()).select_from(Evidence).where(*_conditions(actor, filters, today))
    ).one()
    if total <= page.offset:
        return [], total
    order_by = ORDERS[filters.sort]
    # Choose the page's rows first, so the per-row work below (latest file name, "current")
    # runs for these rows only, not for every match before sorting.
    # Newest first reads ix_evidence_updated_at backwards and stops after the page; the other
    # orders have no usable index, so every row is tested before sorting. Walking the index
    # reads about (offset + size) / total of it, and a row read that way costs about four
    # times a row tested in a plain scan: below that density, scanning is cheaper.
    rare = session.get_bind().dialect.name == "sqlite" and total < SCAN_COST_RATIO * (
        page.offset + page.size
    )
    on_page = (
        select(Evidence.id)
        .where(*_conditions(actor, filters, today, rare=rare))
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
