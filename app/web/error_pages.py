"""Error pages: a domain error, a bad request or an unexpected failure as the user should see it.

A page in the user's language for the browser, a toast for htmx, JSON for the API; never a
stack trace.
"""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.errors import DomainError
from app.i18n import gettext as _
from app.services.validation import describe_errors
from app.web.http import SECURITY_HEADERS, is_api, sent_by_htmx
from app.web.rendering import render

log = logging.getLogger(__name__)


def _error_response(
    request: Request, status: int, message: str, field: str | None = None
) -> Response:
    if is_api(request):
        body: dict[str, Any] = {"detail": message}
        if field:
            body["field"] = field
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)
    if status == 401:
        target = "/login"
        if request.method == "GET":
            target += "?next=" + quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
        if getattr(request.state, "session_expired", False):
            target += ("&" if "?" in target else "?") + "expired=1"
        if sent_by_htmx(request):
            return PlainTextResponse(message, status_code=401, headers={"HX-Redirect": target})
        if request.method == "GET":
            return RedirectResponse(target, status_code=303)
    if sent_by_htmx(request):
        # app.js shows this text as a toast; the page itself stays as it was.
        return PlainTextResponse(message, status_code=status, headers={"HX-Reswap": "none"})
    titles = {
        401: _("Please sign in"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Conflict"),
        413: _("Too large"),
        422: _("Check your input"),
        429: _("Too many attempts"),
    }
    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": titles.get(status, _("Something went wrong")),
            "message": message,
        },
        status_code=status,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return _error_response(request, exc.status_code, exc.message, exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {
            # Starlette's own 400 (a body it cannot parse) would reach the user in English.
            400: _("The request could not be read. Reload the page and send it again."),
            404: _("The page or item you asked for does not exist."),
            405: _("This action is not available here."),
        }
        return _error_response(
            request, exc.status_code, messages.get(exc.status_code, str(exc.detail))
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = describe_errors(exc.errors())
        if is_api(request):
            return JSONResponse(
                {"detail": [{"field": k, "message": v} for k, v in errors.items()]}, status_code=422
            )
        if any(err.get("loc", [None])[0] == "path" for err in exc.errors()):
            return _error_response(
                request, 404, _("The page or item you asked for does not exist.")
            )
        text = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return _error_response(
            request, 422, _("Some values are not valid: %(errors)s", errors=text)
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        # A number too large for the database (e.g. an id typed by hand into a JSON call).
        return _error_response(request, 422, _("A number is out of range."))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = _error_response(
            request,
            500,
            _("Something went wrong on our side. The error has been logged; please try again."),
        )
        # This answer comes from outside the web-context middleware, which adds these elsewhere.
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
