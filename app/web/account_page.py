"""The account page, drawn again after a change by the account router and by the reminder
preferences and calendar address of the notifications router."""

from fastapi import Request
from sqlmodel import Session
from starlette.responses import Response

from app.actor import Actor
from app.services.accounts import api_tokens as api_token_service
from app.services.reminders import notifications as notification_service
from app.web.rendering import render

TOKEN_FRAGMENTS = {"api-tokens": "api_tokens"}


def account_response(
    request: Request,
    session: Session,
    actor: Actor,
    status_code: int = 200,
    **extra: object,
) -> Response:
    context = {
        "tokens": api_token_service.get_all(session=session, user_id=actor.id),
        "preference": notification_service.preference(session=session, user_id=actor.id),
        "password_errors": {},
        "token_errors": {},
        "reminder_errors": {},
        "new_token": None,
        "calendar_url": None,
        **extra,
    }
    return render(
        request, "account/page.html", context, fragments=TOKEN_FRAGMENTS, status_code=status_code
    )
