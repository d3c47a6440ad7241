"""Cross-cutting HTTP behaviour: locale, CSRF, security headers, redirects and toasts."""

import json
import logging
import secrets
from typing import Any
from urllib.parse import quote, unquote, urlparse

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic_core import to_json
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Forbidden
from app.i18n import DEFAULT_LOCALE, LOCALES, current_locale, negotiate
from app.i18n import gettext as _
from app.pagination import Page
from app.security import csrf_token_for, csrf_token_valid

log = logging.getLogger(__name__)

CSRF_COOKIE = "ronghe_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LOCALE_COOKIE = "ronghe_locale"
TOAST_COOKIE = "ronghe_toast"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Room for the multipart boundaries and form fields around an uploaded file.
MULTIPART_OVERHEAD = 1024 * 1024

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def sent_by_htmx(request: Request) -> bool:
    """Any request htmx made: it follows HX-Redirect and shows errors as a toast."""
    return request.headers.get("hx-request") == "true"


def cookie_options(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": request.app.state.settings.secure_cookies,
        "path": "/",
    }


class WebContextMiddleware:
    """Sets the request's locale and CSRF cookie, and adds security headers to every answer.

    Plain ASGI rather than BaseHTTPMiddleware, which runs every request in an extra task with
    its body passed through memory streams: a measurable share of a small API call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        chosen = request.cookies.get(LOCALE_COOKIE)
        if chosen not in LOCALES:
            chosen = negotiate(request.headers.get("accept-language")) or DEFAULT_LOCALE
        current_locale.set(chosen)
        request.state.csrf_cookie = request.cookies.get(CSRF_COOKIE) or ""
        fresh_csrf = not request.state.csrf_cookie
        if fresh_csrf:
            request.state.csrf_cookie = secrets.token_urlsafe(32)

        async def with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The route has run: whatever it decided (a rotated token, a toast shown) is
                # in the request's state by now.
                headers = MutableHeaders(scope=message)
                rotate = fresh_csrf or getattr(request.state, "rotate_csrf", False)
                toast_taken = getattr(request.state, "toast_taken", False)
                if rotate or toast_taken:  # most answers set no cookie: no formatting then
                    cookies = Response()  # borrowed for Starlette's cookie formatting
                    if rotate:
                        cookies.set_cookie(
                            CSRF_COOKIE, request.state.csrf_cookie, **cookie_options(request)
                        )
                    if toast_taken:
                        cookies.delete_cookie(TOAST_COOKIE, path="/")
                    for value in cookies.headers.getlist("set-cookie"):
                        headers.append("set-cookie", value)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_context)


class BodyLimitMiddleware:
    """Refuses a request body larger than the upload limit while it arrives.

    An upload route's own size check comes too late for a plain form post (the CSRF check
    reads the whole form first), for a body sent in chunks (it declares no length) and for
    the API (FastAPI parses the form before the handler runs): each would spool any amount
    to disk before refusing it. Raised from `receive`, the 413 goes through the usual error
    handlers (page, toast or JSON) before any of the excess is read."""

    def __init__(self, app: ASGIApp, max_mb: int) -> None:
        self.app = app
        self.max_mb = max_mb
        self.max_bytes = max_mb * 1024 * 1024 + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        def refuse() -> StarletteHTTPException:
            return StarletteHTTPException(
                413, _("The file is larger than %(mb)d MB.", mb=self.max_mb)
            )

        async def limited() -> Message:
            nonlocal received
            if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
                raise refuse()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise refuse()
            return message

        await self.app(scope, limited, send)


def rotate_csrf(request: Request) -> None:
    """A new CSRF cookie at login and logout, so a token seen before sign-in is useless after."""
    request.state.csrf_cookie = secrets.token_urlsafe(32)
    request.state.rotate_csrf = True


def csrf_token(request: Request) -> str:
    return csrf_token_for(request.app.state.settings.resolved_secret_key, request.state.csrf_cookie)


async def csrf_protect(request: Request) -> None:
    """Every unsafe browser request must carry the token of its CSRF cookie."""
    if request.method not in UNSAFE_METHODS or is_api(request):
        return
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    secret = request.app.state.settings.resolved_secret_key
    if not csrf_token_valid(secret, request.cookies.get(CSRF_COOKIE), submitted):
        raise Forbidden(
            _("This form has expired or did not come from Ronghe. Reload the page and try again.")
        )


def same_site_path(target: str | None, fallback: str = "/") -> str:
    """A user-supplied return address, if it stays on this site; otherwise the fallback.

    Refuses schemes, //host, backslashes (browsers read /\\host as //host) and control
    characters, so a crafted link cannot bounce a user to another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or not target.isprintable():
        return fallback
    parsed = urlparse(target)
    return fallback if parsed.scheme or parsed.netloc else target


def redirect(request: Request, url: str, *, toast: str | None = None) -> Response:
    """After a successful change: a full redirect, or HX-Redirect for htmx; a toast follows."""
    response: Response
    if sent_by_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if toast:
        response.set_cookie(TOAST_COOKIE, quote(toast), max_age=60, **cookie_options(request))
    return response


def take_toast(request: Request) -> str | None:
    """The message left by the previous redirect; the middleware clears it once shown."""
    value = request.cookies.get(TOAST_COOKIE)
    if not value:
        return None
    request.state.toast_taken = True
    return unquote(value)[:300]


def json_answer(data: Any, status_code: int = 200) -> Response:
    """A JSON API answer, written by pydantic's serialiser as FastAPI would write it (dates
    in ISO 8601, NaN as null) but without the detour: returning a dict had FastAPI validate
    it against the handler's return type and walk it with `jsonable_encoder` on a worker
    thread, 3.4 ms for a page of 50 goals, more than loading and assessing them. The route
    keeps `response_model=dict[str, Any]` for the API's description; a returned Response is
    not validated against it."""
    return Response(
        to_json(data, inf_nan_mode="null"), status_code=status_code, media_type="application/json"
    )


def json_page(page: Page, total: int, items: list[Any]) -> Response:
    """One page of a JSON API list, in the shape every list answers with."""
    return json_answer({"total": total, "page": page.number, "size": page.size, "items": items})


def toast_header(message: str, level: str = "success") -> dict[str, str]:
    """An HX-Trigger header that makes the page show a toast after an inline save."""
    return {"HX-Trigger": json.dumps({"showToast": {"message": message, "level": level}})}
