"""Request dependencies: the clock, the signed-in user, permission checks, pagination."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from app.actor import Actor
from app.db import SessionDep, commit_aside
from app.errors import Forbidden, Unauthenticated
from app.i18n import gettext as _
from app.pagination import Page
from app.permissions import Permission
from app.services.accounts import api_tokens as api_token_service
from app.services.accounts import auth as auth_service
from app.services.accounts import users as user_service
from app.services.reminders import notifications as notification_service
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


def optional_actor(
    request: Request, session: SessionDep, now: Now, settings: SettingsDep
) -> Actor | None:
    if hasattr(request.state, "actor"):
        actor: Actor | None = request.state.actor
        return actor
    actor = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = auth_service.resolve_session(
            session=session, now=now, token=token, lifetime=timedelta(hours=settings.session_hours)
        )
        if found is not None:
            login, user = found
            if session.dirty:  # the sliding expiry moved, even when the page only reads
                commit_aside(session)
            roles = user_service.roles_of(session=session, user_id=login.user_id)
            actor = Actor(
                user=user,
                roles=frozenset(roles),
                session_id=login.id,
                unread=notification_service.unread_count(session=session, user_id=login.user_id),
            )
        else:
            request.state.session_expired = True
    request.state.actor = actor
    return actor


OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


async def current_actor(actor: OptionalActor) -> Actor:
    if actor is None:
        raise Unauthenticated()
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


class require:  # noqa: N801 - reads as a phrase: Depends(require(Permission.x))
    """A dependency that lets through only actors holding the permission."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, actor: CurrentActor) -> Actor:
        if not actor.can(self.permission):
            raise Forbidden()
        return actor


def api_actor(request: Request, session: SessionDep, now: Now) -> Actor:
    """The owner of the Bearer token; API calls never use the browser session."""
    header = request.headers.get("authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(_("Send an API token as 'Authorization: Bearer <token>'."))
    found = api_token_service.authenticate(session=session, now=now, secret=secret.strip())
    if found is None:
        raise Unauthenticated(_("This API token is not valid or has been revoked."))
    if session.dirty:  # the token's "last used", at most every five minutes
        commit_aside(session)
    user, roles = found
    return Actor(user=user, roles=roles, session_id=None)


ApiActor = Annotated[Actor, Depends(api_actor)]


class api_require:  # noqa: N801
    """`require` for token-authenticated API routes."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, actor: ApiActor) -> Actor:
        if not actor.can(self.permission):
            raise Forbidden()
        return actor


def paged_by(default_size: int) -> Callable[..., Awaitable[Page]]:
    """The `page` and `size` query parameters, with a list's own default size."""

    async def pagination(
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        size: Annotated[int, Query(ge=1, le=200)] = default_size,
    ) -> Page:
        return Page(number=page, size=size)

    return pagination


PageDep = Annotated[Page, Depends(paged_by(50))]
