"""The in-app inbox, one's reminder preferences, and the personal calendar feed."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.errors import DomainError, NotFound
from app.i18n import gettext as _
from app.services.reminders import notifications as notification_service
from app.web.account_page import account_response
from app.web.deps import CurrentActor, Now, PageDep, SettingsDep
from app.web.forms import parse_id
from app.web.http import redirect, toast_header
from app.web.rendering import render

router = APIRouter(tags=["notifications"], include_in_schema=False)
INBOX_FRAGMENTS = {"inbox": "inbox"}


def _page(request: Request, session: SessionDep, actor: CurrentActor, page: PageDep) -> Response:
    rows, total = notification_service.inbox(session=session, user_id=actor.id, page=page)
    return render(
        request,
        "notifications/inbox.html",
        {"rows": rows, "total": total, "page": page},
        fragments=INBOX_FRAGMENTS,
    )


@router.get("/inbox")
def inbox(request: Request, session: SessionDep, actor: CurrentActor, page: PageDep) -> Response:
    return _page(request, session, actor, page)


@router.post("/inbox/read")
def mark_read(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    page: PageDep,
    notification_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Mark one message (or, without an id, all) as read; answers with the refreshed list."""
    notification_service.mark_read(
        session=session, now=now, user_id=actor.id, notification_id=notification_id
    )
    session.commit()
    actor.unread = notification_service.unread_count(session=session, user_id=actor.id)
    response = _page(request, session, actor, page)
    response.headers.update(toast_header(_("Marked as read.")))
    return response


def _hour(value: str) -> int | None:
    hour = parse_id(value) if value != "0" else 0
    return hour if hour is not None and 0 <= hour <= 23 else None


@router.post("/account/reminders")
def save_preferences(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    email: Annotated[str, Form()] = "",
    digest: Annotated[str, Form()] = "",
    quiet_start: Annotated[str, Form(max_length=2)] = "",
    quiet_end: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    try:
        notification_service.save_preference(
            session=session,
            user_id=actor.id,
            email=email == "on",
            digest=digest == "on",
            quiet_start=_hour(quiet_start),
            quiet_end=_hour(quiet_end),
        )
    except DomainError as exc:
        session.rollback()
        return account_response(
            request,
            session,
            actor,
            exc.status_code,
            reminder_errors={exc.field or "__all__": exc.message},
        )
    session.commit()
    return redirect(request, "/account", toast=_("Reminder settings saved."))


@router.post("/account/calendar")
def reset_calendar(
    request: Request, session: SessionDep, actor: CurrentActor, settings: SettingsDep
) -> Response:
    token = notification_service.reset_calendar_token(session=session, user_id=actor.id)
    session.commit()
    return account_response(
        request, session, actor, calendar_url=f"{settings.public_url}/calendar/{token}.ics"
    )


@router.get("/calendar/{token}.ics")
def calendar_feed(session: SessionDep, now: Now, settings: SettingsDep, token: str) -> Response:
    """A secret, read-only feed for Outlook or a phone; the token is the only credential."""
    user_id = (
        notification_service.user_for_calendar(session=session, token=token)
        if len(token) < 100
        else None
    )
    if user_id is None:
        raise NotFound()
    feed = notification_service.calendar_feed(
        session=session, user_id=user_id, today=local_date(now), base_url=settings.public_url
    )
    return Response(
        feed,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="ronghe.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )
