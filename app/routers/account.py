"""One's own account: language, password, personal API tokens."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from app.db import SessionDep
from app.deps import CurrentViewer, Now, SettingsDep
from app.errors import DomainError
from app.i18n import gettext as _
from app.services import api_token as api_token_service
from app.services import notification as notification_service
from app.services import user as user_service
from app.templating import render
from app.web import redirect

router = APIRouter(prefix="/account", tags=["account"], include_in_schema=False)
TOKEN_FRAGMENTS = {"api-tokens": "api_tokens"}


def account_response(
    request: Request,
    session: SessionDep,
    viewer: CurrentViewer,
    status_code: int = 200,
    **extra: object,
) -> Response:
    context = {
        "tokens": api_token_service.get_all(session=session, user_id=viewer.id),
        "preference": notification_service.preference(session=session, user_id=viewer.id),
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


@router.get("")
def accountaccount_response(
    request: Request, session: SessionDep, viewer: CurrentViewer
) -> Response:
    return account_response(request, session, viewer)


@router.post("/password")
def change_password(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    viewer: CurrentViewer,
    current_password: Annotated[str, Form(max_length=256)] = "",
    new_password: Annotated[str, Form(max_length=128)] = "",
    new_password_confirm: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if new_password != new_password_confirm:
        errors["new_password_confirm"] = _("The two passwords do not match.")
    else:
        try:
            user_service.change_password(
                session=session,
                now=now,
                user=viewer.user,
                current=current_password,
                new=new_password,
                keep_session_id=viewer.session_id,
                fast_hash=settings.fast_password_hashing,
            )
        except DomainError as exc:
            errors[exc.field or "__all__"] = exc.message
    if errors:
        session.rollback()
        return account_response(request, session, viewer, status_code=422, password_errors=errors)
    session.commit()
    return redirect(
        request,
        "/account",
        toast=_(
            "Password changed. Other sign-ins were ended, your API tokens revoked and your "
            "calendar address withdrawn."
        ),
    )


@router.post("/tokens")
def create_token(
    request: Request,
    session: SessionDep,
    now: Now,
    viewer: CurrentViewer,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        _token, secret = api_token_service.create(
            session=session, now=now, user_id=viewer.id, name=name
        )
    except DomainError as exc:
        session.rollback()
        return account_response(
            request,
            session,
            viewer,
            status_code=422,
            token_errors={exc.field or "name": exc.message},
        )
    session.commit()
    return account_response(request, session, viewer, new_token=secret)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, session: SessionDep, now: Now, viewer: CurrentViewer, token_id: int
) -> Response:
    api_token_service.revoke(session=session, now=now, user_id=viewer.id, token_id=token_id)
    session.commit()
    return account_response(request, session, viewer)
