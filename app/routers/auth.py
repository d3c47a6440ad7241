"""Sign in, sign out, first-run setup and the language switch."""

import logging
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from app.db import SessionDep
from app.errors import DomainError, NotFound
from app.i18n import LOCALES, current_locale
from app.i18n import gettext as _
from app.models.user import Role, User, UserCreate
from app.services.accounts import auth as auth_service
from app.services.accounts import users as user_service
from app.services.accounts.auth import SignInThrottled, ThrottlePolicy
from app.web.deps import SESSION_COOKIE, Now, OptionalActor, SettingsDep
from app.web.forms import form_values, validate
from app.web.http import LOCALE_COOKIE, cookie_options, redirect, rotate_csrf, same_site_path
from app.web.rendering import render

log = logging.getLogger(__name__)

router = APIRouter(tags=["auth"], include_in_schema=False)

# Proves an earlier sign-in from this browser, so that sign-in throttling counts it apart
# (app/services/accounts/auth.py). It signs nobody in; signing out keeps it.
DEVICE_COOKIE = "ronghe_device"
DEVICE_COOKIE_SECONDS = 365 * 86400


def _sign_in(request: Request, response: Response, token: str, user: User, hours: int) -> None:
    options = cookie_options(request)
    assert user.id is not None
    known = auth_service.remember_device(
        secret=request.app.state.settings.resolved_secret_key,
        cookie=request.cookies.get(DEVICE_COOKIE),
        user_id=user.id,
    )
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, **options)
    response.set_cookie(LOCALE_COOKIE, user.locale, max_age=365 * 86400, **options)
    response.set_cookie(DEVICE_COOKIE, known, max_age=DEVICE_COOKIE_SECONDS, **options)
    rotate_csrf(request)


# When the last warning about an ignored X-Forwarded-For went out (time.monotonic()).
_forwarded_warned_at: float | None = None
_FORWARDED_WARNING_EVERY = 3600.0


def _warn_if_forwarded_for_is_ignored(request: Request) -> None:
    """Tell the operator when a proxy's forwarded client address is ignored: behind an
    unlisted reverse proxy every user shares the proxy's address, and with it the
    per-address sign-in limit."""
    global _forwarded_warned_at
    forwarded = request.headers.get("x-forwarded-for")
    peer = request.client.host if request.client else None
    # A trusted proxy's header has been applied (app/main.py): the client is one it names.
    if not forwarded or peer is None or peer in forwarded:
        return
    moment = time.monotonic()
    if _forwarded_warned_at is not None and moment - _forwarded_warned_at < (
        _FORWARDED_WARNING_EVERY
    ):
        return
    _forwarded_warned_at = moment
    log.warning(
        "X-Forwarded-For from %s ignored: it is not in RONGHE_TRUSTED_PROXIES. If it is "
        "your reverse proxy, list it there; until then every user behind it shares its "
        "address for sign-in throttling.",
        peer,
    )


@router.get("/login")
def login_page(
    request: Request, session: SessionDep, actor: OptionalActor, next: str | None = None
) -> Response:
    if user_service.count_users(session=session) == 0:
        return RedirectResponse("/setup", status_code=303)
    if actor is not None:
        return RedirectResponse(same_site_path(next), status_code=303)
    expired = request.query_params.get("expired") == "1"
    return render(
        request,
        "auth/login.html",
        {"next": same_site_path(next), "email": "", "error": None, "expired": expired},
    )


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    # The peer, or the client a trusted proxy names (app/main.py, RONGHE_TRUSTED_PROXIES).
    address = request.client.host if request.client else "unknown"
    _warn_if_forwarded_for_is_ignored(request)
    try:
        user = auth_service.authenticate(
            session=session,
            now=now,
            email=email,
            password=password,
            address=address,
            device_cookie=request.cookies.get(DEVICE_COOKIE),
            secret=settings.resolved_secret_key,
            policy=ThrottlePolicy.from_settings(settings),
        )
    except DomainError as exc:
        session.commit()  # the failed attempt counts towards throttling
        wait = {"Retry-After": str(exc.retry_after)} if isinstance(exc, SignInThrottled) else None
        return render(
            request,
            "auth/login.html",
            {"next": same_site_path(next), "email": email, "error": exc.message},
            status_code=exc.status_code,
            headers=wait,
        )
    # Whatever session cookie the browser brought (another account's, or one planted to
    # fix the session) is ended, not carried over: the sign-in always gets a fresh one.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        auth_service.end_session(session=session, now=now, token=previous)
    token = auth_service.start_session(
        session=session, now=now, user=user, lifetime=timedelta(hours=settings.session_hours)
    )
    session.commit()
    current_locale.set(user.locale)
    response = redirect(request, same_site_path(next))
    _sign_in(request, response, token, user, settings.session_hours)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: Now) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service.end_session(session=session, now=now, token=token)
        session.commit()
    response = redirect(request, "/login", toast=_("You have signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    rotate_csrf(request)
    return response


def _require_first_run(session: SessionDep) -> None:
    # Once anyone exists, setup is gone: it must never become a way to add an administrator.
    if user_service.count_users(session=session) > 0:
        raise NotFound()


@router.get("/setup")
def setup_page(request: Request, session: SessionDep) -> Response:
    _require_first_run(session)
    return render(request, "auth/setup.html", {"values": {}, "errors": {}})


@router.post("/setup")
async def setup(request: Request, session: SessionDep, now: Now, settings: SettingsDep) -> Response:
    _require_first_run(session)
    form = await request.form()
    values = form_values(form)
    errors: dict[str, str] = {}
    if values.get("password") != values.get("password_confirm"):
        errors["password_confirm"] = _("The two passwords do not match.")
    data, field_errors = validate(
        UserCreate, {**values, "roles": [Role.admin], "locale": current_locale.get()}
    )
    errors = {**field_errors, **errors}
    if data is None or errors:
        return render(
            request, "auth/setup.html", {"values": values, "errors": errors}, status_code=422
        )
    user = user_service.create(
        session=session, now=now, actor_id=None, data=data, fast_hash=settings.fast_password_hashing
    )
    token = auth_service.start_session(
        session=session, now=now, user=user, lifetime=timedelta(hours=settings.session_hours)
    )
    session.commit()
    response = redirect(
        request, "/", toast=_("Welcome to Ronghe. Your administrator account is ready.")
    )
    _sign_in(request, response, token, user, settings.session_hours)
    return response


@router.post("/locale")
def switch_locale(
    request: Request,
    session: SessionDep,
    actor: OptionalActor,
    locale: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    if locale not in LOCALES:
        raise NotFound()
    if actor is not None:
        user_service.set_locale(session=session, user=actor.user, locale=locale)
        session.commit()
    response = redirect(request, same_site_path(next))
    response.set_cookie(LOCALE_COOKIE, locale, max_age=365 * 86400, **cookie_options(request))
    return response
