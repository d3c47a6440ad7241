"""Request dependencies: the clock, the signed-in user, permission checks, pagination."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from app.db import SessionDep
from app.errors import Forbidden, Unauthenticated
from app.i18n import gettext as _
from app.models.user import Role, User
from app.pagination import Page
from app.permissions import OVERSEERS, Permission, allowed
from app.services import api_token as api_token_service
from app.services import auth as auth_service
from app.services import notification as notification_service
from app.services import user as user_service
from app.settings import Settings

SESSION_COOKIE = "ronghe_session"


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# threadpool, and that hop cost more than the work on every request.


async def get_now() -> datetime:
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(get_now)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass
class Viewer:
    """The signed-in user with their roles and login session."""

    user: User
    roles: frozenset[Role]
    session_id: int | None
    unread: int = 0  # in-app notifications, shown in the navigation

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    def can(self, permission: Permission) -> bool:
        return allowed(self.roles, permission)

    def may_touch(self, *owner_ids: int | None) -> bool:
        """Overseers act on anything; others only on objects they own."""
        return not OVERSEERS.isdisjoint(self.roles) or self.id in owner_ids

    def require_owner(self, *owner_ids: int | None) -> None:
        if not self.may_touch(*owner_ids):
            raise Forbidden(
                _("Only the owner, an administrator or top management may change this.")
            )


def optional_viewer(
    request: Request, session: SessionDep, now: Now, settings: SettingsDep
) -> Viewer | None:
    if hasattr(request.state, "viewer"):
        viewer: Viewer | None = request.state.viewer
        return viewer
    viewer = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = auth_service.resolve_session(
            session=session, now=now, token=token, lifetime=timedelta(hours=settings.session_hours)
        )
        if found is not None:
            login, user = found
            if session.dirty:
                session.commit()  # keeps the sliding expiry even when the page only reads
            roles = user_service.roles_of(session=session, user_id=login.user_id)
            viewer = Viewer(
                user=user,
                roles=frozenset(roles),
                session_id=login.id,
                unread=notification_service.unread_count(session=session, user_id=login.user_id),
            )
        else:
            request.state.session_expired = True
    request.state.viewer = viewer
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]


async def current_viewer(viewer: OptionalViewer) -> Viewer:
    if viewer is None:
        raise Unauthenticated()
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


class require:  # noqa: N801 - reads as a phrase: Depends(require(Permission.x))
    """A dependency that lets through only viewers holding the permission."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, viewer: CurrentViewer) -> Viewer:
        if not viewer.can(self.permission):
            raise Forbidden()
        return viewer


def api_viewer(request: Request, session: SessionDep, now: Now) -> Viewer:
    """The owner of the Bearer token; API calls never use the browser session."""
    header = request.headers.get("authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(_("Send an API token as 'Authorization: Bearer <token>'."))
    found = api_token_service.authenticate(session=session, now=now, secret=secret.strip())
    if found is None:
        raise Unauthenticated(_("This API token is not valid or has been revoked."))
    if session.dirty:
        session.commit()  # the token's "last used", at most every five minutes
    user, roles = found
    return Viewer(user=user, roles=roles, session_id=None)


ApiViewer = Annotated[Viewer, Depends(api_viewer)]


class api_require:  # noqa: N801
    """`require` for token-authenticated API routes."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, viewer: ApiViewer) -> Viewer:
        if not viewer.can(self.permission):
            raise Forbidden()
        return viewer


async def pagination(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    return Page(number=page, size=size)


PageDep = Annotated[Page, Depends(pagination)]
