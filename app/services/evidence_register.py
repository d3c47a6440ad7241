"""The evidence register: search, filters, sort and pages, computed by the database."""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import exists, func, or_
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
    return f"%{escaped.lower()}%"


def search(
    *, session: Session, viewer: Viewer, filters: RegisterFilter, page: Page, today: date
) -> tuple[list[RegisterRow], int]:
    """One page of the register the viewer may see, and the total count."""
    latest_name = (
        select(EvidenceRevision.original_name)
        .where(col(EvidenceRevision.evidence_id) == Evidence.id)
        .order_by(col(EvidenceRevision.number).desc())
        .limit(1)
        .correlate(Evidence)
        .scalar_subquery()
    )
    query: Any = (
        sa_select(
            Evidence, col(User.name), col(Department.name), latest_name, current_clause(today)
        )
        .outerjoin(User, col(User.id) == Evidence.owner_id)
        .outerjoin(Department, col(Department.id) == Evidence.department_id)
        .where(visible_clause(viewer))
    )
    if filters.q.strip():
        pattern = _like(filters.q.strip())
        in_files = exists().where(
            col(EvidenceRevision.evidence_id) == Evidence.id,
            func.lower(EvidenceRevision.original_name).like(pattern, escape="\\"),
        )
        query = query.where(
            or_(
                func.lower(Evidence.title).like(pattern, escape="\\"),
                func.lower(Evidence.description).like(pattern, escape="\\"),
                func.lower(func.coalesce(Evidence.reference, "")).like(pattern, escape="\\"),
                in_files,
            )
        )
    if filters.status == "expired":
        query = query.where(expired_clause(today))
    elif filters.status:
        query = query.where(Evidence.status == filters.status)
    if filters.kind is not None:
        query = query.where(Evidence.kind == filters.kind)
    if filters.owner_id is not None:
        query = query.where(Evidence.owner_id == filters.owner_id)
    if filters.department_id is not None:
        query = query.where(Evidence.department_id == filters.department_id)
    if filters.requirement_id is not None:
        query = query.where(
            exists().where(
                col(EvidenceRequirement.evidence_id) == Evidence.id,
                col(EvidenceRequirement.requirement_id) == filters.requirement_id,
            )
        )
    if filters.due:
        query = query.where(
            col(Evidence.status) != EvidenceStatus.obsolete,
            col(Evidence.next_review_date) <= today + timedelta(days=DUE_SOON_DAYS),
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    orders: dict[Sort, list[Any]] = {
        Sort.by_updated: [col(Evidence.updated_at).desc(), col(Evidence.id).desc()],
        Sort.by_title: [col(Evidence.title), col(Evidence.id)],
        Sort.by_review: [
            col(Evidence.next_review_date).is_(None),
            col(Evidence.next_review_date),
            col(Evidence.id),
        ],
    }
    order_by = orders[filters.sort]
    rows = session.execute(query.order_by(*order_by).offset(page.offset).limit(page.size)).all()
    typed = cast("list[tuple[Evidence, str | None, str | None, str | None, bool]]", rows)
    return [
        RegisterRow(e, owner, dept, name, bool(cur)) for e, owner, dept, name, cur in typed
    ], total
