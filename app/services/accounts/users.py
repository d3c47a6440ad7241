"""Users and roles: create, update, deactivate, change password."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func
from sqlmodel import Session, col, delete, select

from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.models.auth import UserSession
from app.models.department import Department
from app.models.user import PASSWORD_MIN_LENGTH, Role, User, UserCreate, UserRole, UserUpdate
from app.security import hash_password, verify_password
from app.services.accounts import api_tokens as api_token
from app.services.activity import service as activity
from app.services.loading import found
from app.services.reminders import notifications as notification


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get(*, session: Session, user_id: int) -> User:
    return found(session.get(User, user_id), _("This user does not exist."))


def get_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def roles_of(*, session: Session, user_id: int) -> set[Role]:
    rows = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    return {Role(r) for r in rows}


def roles_by_user(*, session: Session, user_ids: Iterable[int]) -> dict[int, set[Role]]:
    """Roles of many users in one query (for lists)."""
    result: dict[int, set[Role]] = {}
    ids = list(user_ids)
    if not ids:
        return result
    for user_id, role in session.exec(
        select(UserRole.user_id, UserRole.role).where(col(UserRole.user_id).in_(ids))
    ).all():
        result.setdefault(user_id, set()).add(Role(role))
    return result


OPTIONS_LIMIT = 1000


def options(*, session: Session) -> list[tuple[int, str]]:
    """Active users as (id, name) pairs for owner and head selects, by name, bounded."""
    rows = session.exec(
        select(User.id, User.name)
        .where(col(User.is_active))
        .order_by(col(User.name))
        .limit(OPTIONS_LIMIT)
    ).all()
    return [(uid, name) for uid, name in rows if uid is not None]


def options_among(
    *, session: Session, user_ids: Select[Any], chosen: int | None
) -> list[tuple[int, str]]:
    """The users a sub-query names, and the one a filter names, as (id, name) pairs by name:
    an owner filter offers the people it can find, not every account."""
    wanted: ColumnElement[bool] = col(User.id).in_(user_ids)
    if chosen is not None:
        wanted = wanted | (col(User.id) == chosen)
    rows = session.exec(
        select(User.id, User.name).where(wanted).order_by(col(User.name), col(User.id))
    ).all()
    return [(uid, name) for uid, name in rows if uid is not None]


def names_by_id(*, session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The names of these users (any that exist), for showing who did what; one query."""
    wanted = {uid for uid in user_ids if uid}
    if not wanted:
        return {}
    rows = session.exec(select(User.id, User.name).where(col(User.id).in_(wanted))).all()
    return {uid: name for uid, name in rows if uid is not None}


def count_users(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def _check_unique_email(session: Session, email: str, user_id: int | None) -> None:
    existing = get_by_email(session=session, email=email)
    if existing is not None and existing.id != user_id:
        raise Conflict(_("A user with this e-mail address already exists."), field="email")


def _check_department(session: Session, department_id: int | None) -> None:
    if department_id is not None and session.get(Department, department_id) is None:
        raise Invalid(_("Choose an existing department."), field="department_id")


def _set_roles(session: Session, user_id: int, roles: Iterable[Role]) -> None:
    session.exec(delete(UserRole).where(col(UserRole.user_id) == user_id))
    for role in sorted(set(roles)):
        session.add(UserRole(user_id=user_id, role=role))


def create(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    data: UserCreate,
    fast_hash: bool = False,
) -> User:
    """Create a user with roles; the e-mail address must be unused."""
    email = normalize_email(data.email)
    _check_unique_email(session, email, None)
    _check_department(session, data.department_id)
    user = User(
        name=data.name.strip(),
        email=email,
        department_id=data.department_id,
        locale=data.locale,
        is_active=data.is_active,
        password_hash=hash_password(data.password, fast=fast_hash),
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    _set_roles(session, user.id, data.roles)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type="user",
        object_id=user.id,
        after={"name": user.name, "email": email, "roles": sorted(data.roles)},
    )
    return user


def _admin_count(session: Session, excluding: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(UserRole)
        .join(User, col(User.id) == UserRole.user_id)
        .where(UserRole.role == Role.admin, col(User.is_active), UserRole.user_id != excluding)
    ).one()


def update(
    *, session: Session, now: datetime, actor_id: int | None, user: User, data: UserUpdate
) -> User:
    """Change a user's details, roles and active flag; the last active admin stays an admin."""
    assert user.id is not None
    email = normalize_email(data.email)
    _check_unique_email(session, email, user.id)
    _check_department(session, data.department_id)
    old_roles = roles_of(session=session, user_id=user.id)
    loses_admin = Role.admin in old_roles and (Role.admin not in data.roles or not data.is_active)
    if loses_admin and _admin_count(session, user.id) == 0:
        raise Conflict(_("At least one active administrator must remain."), field="roles")
    fields = {
        "name": data.name.strip(),
        "email": email,
        "department_id": data.department_id,
        "locale": data.locale,
        "is_active": data.is_active,
    }
    before, after = activity.changes(user, fields)
    if old_roles != set(data.roles):
        before["roles"], after["roles"] = sorted(old_roles), sorted(set(data.roles))
    for name, value in fields.items():
        setattr(user, name, value)
    _set_roles(session, user.id, data.roles)
    if not data.is_active:
        _end_access(session, now, user.id, actor_id=actor_id)
    session.add(user)
    if after:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="user",
            object_id=user.id,
            before=before,
            after=after,
        )
    return user


def _end_access(session: Session, now: datetime, user_id: int, *, actor_id: int | None) -> None:
    """A deactivated account leaves nothing usable behind: its sessions, API tokens and
    calendar address end, and reactivation revives none of them."""
    session.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))
    api_token.revoke_all(session=session, now=now, user_id=user_id, actor_id=actor_id)
    notification.end_calendar(session=session, user_id=user_id)


def set_locale(*, session: Session, user: User, locale: str) -> None:
    """Remember the user's language; not an auditable change of data."""
    user.locale = locale  # type: ignore[assignment]
    session.add(user)


def change_password(
    *,
    session: Session,
    now: datetime,
    user: User,
    current: str,
    new: str,
    keep_session_id: int | None,
    fast_hash: bool = False,
) -> None:
    """Change one's own password; every other login session, every API token and the
    calendar address end with the old password, since whoever knew it could have made them."""
    assert user.id is not None
    if not verify_password(current, user.password_hash):
        raise Invalid(_("The current password is not correct."), field="current_password")
    if len(new) < PASSWORD_MIN_LENGTH:
        raise Invalid(
            _("Use at least %(min)d characters.", min=PASSWORD_MIN_LENGTH), field="new_password"
        )
    if new == current:
        raise Invalid(_("Choose a password different from the current one."), field="new_password")
    user.password_hash = hash_password(new, fast=fast_hash)
    user.password_changed_at = now
    session.add(user)
    others = delete(UserSession).where(col(UserSession.user_id) == user.id)
    if keep_session_id is not None:
        others = others.where(col(UserSession.id) != keep_session_id)
    session.exec(others)
    api_token.revoke_all(session=session, now=now, user_id=user.id, actor_id=user.id)
    notification.end_calendar(session=session, user_id=user.id)
    activity.record(
        session=session,
        now=now,
        actor_id=user.id,
        verb="change_password",
        object_type="user",
        object_id=user.id,
    )
