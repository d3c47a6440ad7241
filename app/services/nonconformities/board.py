"""The nonconformity board: filtered pages and the overdue lists, computed by the database."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.models.department import Department
from app.models.nonconformity import (
    OPEN_NC_STATUSES,
    ActionStatus,
    CorrectiveAction,
    NcGrade,
    NcSource,
    NcStatus,
    Nonconformity,
)
from app.models.requirement import Requirement
from app.models.user import User
from app.pagination import Page
from app.services.accounts import users as user_service
from app.services.nonconformities.service import action_overdue_clause, overdue_clause

OVERDUE_LIST_LIMIT = 10
ALL = "all"  # the status filter value that also shows closed nonconformities


@dataclass(frozen=True)
class BoardFilter:
    status: str = ""  # "" = every open status, an NcStatus, or ALL
    grade: NcGrade | None = None
    source: NcSource | None = None
    department_id: int | None = None
    owner_id: int | None = None
    overdue: bool = False


@dataclass
class BoardRow:
    nonconformity: Nonconformity
    owner_name: str | None
    department_name: str | None
    clause: str | None
    open_actions: int
    total_actions: int


@dataclass
class OverdueAction:
    action: CorrectiveAction
    nonconformity_title: str
    owner_name: str | None


def search(
    *, session: Session, filters: BoardFilter, page: Page, today: date
) -> tuple[list[BoardRow], int]:
    """One page of nonconformities, the most urgent first, and how many match in all."""
    conditions: list[ColumnElement[bool]] = []
    if filters.status == "":
        conditions.append(col(Nonconformity.status).in_(OPEN_NC_STATUSES))
    elif filters.status != ALL:
        conditions.append(col(Nonconformity.status) == NcStatus(filters.status))
    if filters.grade is not None:
        conditions.append(col(Nonconformity.grade) == filters.grade)
    if filters.source is not None:
        conditions.append(col(Nonconformity.source) == filters.source)
    if filters.department_id is not None:
        conditions.append(col(Nonconformity.department_id) == filters.department_id)
    if filters.owner_id is not None:
        conditions.append(col(Nonconformity.owner_id) == filters.owner_id)
    if filters.overdue:
        conditions.append(overdue_clause(today))
    total = session.exec(select(func.count()).select_from(Nonconformity).where(*conditions)).one()
    query: Any = (
        sa_select(Nonconformity, col(User.name), col(Department.name), col(Requirement.clause))
        .outerjoin(User, col(User.id) == Nonconformity.owner_id)
        .outerjoin(Department, col(Department.id) == Nonconformity.department_id)
        .outerjoin(Requirement, col(Requirement.id) == Nonconformity.requirement_id)
        .where(*conditions)
        .order_by(
            col(Nonconformity.due_date).is_(None),
            col(Nonconformity.due_date),
            col(Nonconformity.id),
        )
        .offset(page.offset)
        .limit(page.size)
    )
    typed = cast(
        "list[tuple[Nonconformity, str | None, str | None, str | None]]",
        session.execute(query).all(),
    )
    actions = _action_counts(session, [nc.id or 0 for nc, *_rest in typed])
    rows = [
        BoardRow(nc, owner, department, clause, *actions.get(nc.id or 0, (0, 0)))
        for nc, owner, department, clause in typed
    ]
    return rows, total


def _action_counts(session: Session, nc_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per nonconformity on the page: its open actions and all its actions. Counted for the
    page's rows only; grouping every action in the database first was a quarter of the
    board's query time."""
    if not nc_ids:
        return {}
    rows = cast(
        "Sequence[tuple[int, int | None, int]]",
        session.execute(
            sa_select(
                col(CorrectiveAction.nonconformity_id),
                func.sum(case((col(CorrectiveAction.status) == ActionStatus.open, 1), else_=0)),
                func.count(),
            )
            .where(col(CorrectiveAction.nonconformity_id).in_(nc_ids))
            .group_by(col(CorrectiveAction.nonconformity_id))
        ).all(),
    )
    return {nc_id: (still_open or 0, total) for nc_id, still_open, total in rows}


def overdue_nonconformities(*, session: Session, today: date) -> list[BoardRow]:
    """Open nonconformities past their due date, the longest overdue first (bounded)."""
    query = (
        select(Nonconformity, User.name, Department.name)
        .outerjoin(User, col(User.id) == Nonconformity.owner_id)
        .outerjoin(Department, col(Department.id) == Nonconformity.department_id)
        .where(overdue_clause(today))
        .order_by(col(Nonconformity.due_date), col(Nonconformity.id))
        .limit(OVERDUE_LIST_LIMIT)
    )
    return [
        BoardRow(nc, owner, department, None, 0, 0)
        for nc, owner, department in session.exec(query).all()
    ]


def overdue_actions(*, session: Session, today: date) -> list[OverdueAction]:
    """Open actions past their due date on open nonconformities (bounded)."""
    nc_owner = aliased(User)
    query = (
        select(CorrectiveAction, Nonconformity.title, User.name, nc_owner.name)
        .join(Nonconformity, col(Nonconformity.id) == CorrectiveAction.nonconformity_id)
        .outerjoin(User, col(User.id) == CorrectiveAction.owner_id)
        .outerjoin(nc_owner, col(nc_owner.id) == Nonconformity.owner_id)
        .where(
            action_overdue_clause(today),
            col(Nonconformity.status).in_(OPEN_NC_STATUSES),
        )
        .order_by(col(CorrectiveAction.due_date), col(CorrectiveAction.id))
        .limit(OVERDUE_LIST_LIMIT)
    )
    return [
        OverdueAction(action, title, owner or fallback)
        for action, title, owner, fallback in session.exec(query).all()
    ]


def owner_options(*, session: Session, selected: int | None) -> list[tuple[int, str]]:
    """The people the board's owner filter offers: those who own a nonconformity (any other
    choice would show an empty board), and the one chosen."""
    owning = sa_select(col(Nonconformity.owner_id)).where(col(Nonconformity.owner_id).is_not(None))
    return user_service.options_among(session=session, user_ids=owning, chosen=selected)
