"""Departments: a tree of organizational units."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.models.department import Department, DepartmentCreate
from app.models.requirement import RequirementStatus
from app.models.user import User
from app.services.activity import service as activity
from app.services.loading import found


def get(*, session: Session, department_id: int) -> Department:
    return found(session.get(Department, department_id), _("This department does not exist."))


def get_all(*, session: Session) -> list[Department]:
    return list(session.exec(select(Department).order_by(col(Department.name))).all())


def names(*, session: Session, department_ids: Iterable[int]) -> list[str]:
    ids = list(department_ids)
    if not ids:
        return []
    return list(
        session.exec(
            select(Department.name)
            .where(col(Department.id).in_(ids))
            .order_by(col(Department.name))
        ).all()
    )


def as_tree(departments: list[Department]) -> list[tuple[Department, int]]:
    """Departments in tree order with their depth, for indented lists and selects."""
    children: dict[int | None, list[Department]] = {}
    for department in departments:
        children.setdefault(department.parent_id, []).append(department)
    ordered: list[tuple[Department, int]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for child in children.get(parent_id, []):
            ordered.append((child, depth))
            walk(child.id, depth + 1)

    walk(None, 0)
    return ordered


def options(tree: list[tuple[Department, int]]) -> list[tuple[int | None, str]]:
    """(id, indented name) pairs for a select, indented with ideographic spaces."""
    return [(d.id, "\u3000" * depth + d.name) for d, depth in tree]


def _check(session: Session, data: DepartmentCreate, department_id: int | None) -> None:
    clash = session.exec(
        select(Department).where(func.lower(Department.code) == data.code.lower())
    ).first()
    if clash is not None and clash.id != department_id:
        raise Conflict(_("Another department already uses this code."), field="code")
    if data.head_id is not None and session.get(User, data.head_id) is None:
        raise Invalid(_("Choose an active user as owner."), field="head_id")
    if data.parent_id is None:
        return
    parent = session.get(Department, data.parent_id)
    if parent is None:
        raise Invalid(_("Choose an existing department."), field="parent_id")
    # Walking up from the new parent must never reach the department itself.
    seen: set[int] = set()
    while parent is not None and parent.id not in seen:
        if parent.id == department_id:
            raise Invalid(
                _("A department cannot sit below itself or one of its sub-departments."),
                field="parent_id",
            )
        assert parent.id is not None
        seen.add(parent.id)
        parent = session.get(Department, parent.parent_id) if parent.parent_id else None


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: DepartmentCreate
) -> Department:
    """Add a department; codes are unique regardless of case."""
    _check(session, data, None)
    department = Department(
        name=data.name.strip(), code=data.code, parent_id=data.parent_id, head_id=data.head_id
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=department,
        object_type="department",
        after=data.model_dump(),
    )
    return department


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    department: Department,
    data: DepartmentCreate,
) -> Department:
    """Rename, recode or move a department."""
    _check(session, data, department.id)
    fields = {
        "name": data.name.strip(),
        "code": data.code,
        "parent_id": data.parent_id,
        "head_id": data.head_id,
    }
    before, after = activity.changes(department, fields)
    for name, value in fields.items():
        setattr(department, name, value)
    session.add(department)
    if after:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="department",
            object_id=department.id,
            before=before,
            after=after,
        )
    return department


def delete(
    *, session: Session, now: datetime, actor_id: int | None, department: Department
) -> None:
    """Remove an empty department; one that still has members or work is refused with the reason."""
    uses = [
        (
            select(func.count())
            .select_from(Department)
            .where(Department.parent_id == department.id),
            _("it has sub-departments"),
        ),
        (
            select(func.count()).select_from(User).where(User.department_id == department.id),
            _("users belong to it"),
        ),
        (
            select(func.count())
            .select_from(RequirementStatus)
            .where(RequirementStatus.department_id == department.id),
            _("requirements are assigned to it"),
        ),
    ]
    for query, reason in uses:
        if session.exec(query).one():
            raise Conflict(_("This department cannot be deleted: %(reason)s.", reason=reason))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="department",
        object_id=department.id,
        before={"name": department.name, "code": department.code},
    )
    session.delete(department)
