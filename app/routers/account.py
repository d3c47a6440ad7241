"""One's own account: language, password, personal API tokens."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from app.db import SessionDep
from app.errors import DomainError
from app.i18n import gettext as _
from app.services.accounts import api_tokens as api_token_service
from app.services.accounts import users as user_service
from app.web.account_page import account_response
from app.web.deps import CurrentActor, Now, SettingsDep
from app.web.http import redirect

router = APIRouter(prefix="/account", tags=["account"], include_in_schema=False)


@router.get("")
def page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return account_response(request, session, actor)


@router.post("/password")
def change_password(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: CurrentActor,
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
                user=actor.user,
                current=current_password,
                new=new_password,
                keep_session_id=actor.session_id,
                fast_hash=settings.fast_password_hashing,
            )
        except DomainError as exc:
            errors[exc.field or "__all__"] = exc.message
    if errors:
        session.rollback()
        return account_response(request, session, actor, status_code=422, password_errors=errors)
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
    actor: CurrentActor,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        _token, secret = api_token_service.create(
            session=session, now=now, user_id=actor.id, name=name
        )
    except DomainError as exc:
        session.rollback()
        return account_response(
            request,
            session,
            actor,
            status_code=422,
            token_errors={exc.field or "name": exc.message},
        )
    session.commit()
    return account_response(request, session, actor, new_token=secret)


@router.post("/tokens/{token_id:int}/revoke")
def revoke_token(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, token_id: int
) -> Response:
    api_token_service.revoke(session=session, now=now, user_id=actor.id, token_id=token_id)
    session.commit()
    return account_response(request, session, actor)
