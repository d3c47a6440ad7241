"""Jinja2 with translations; full pages, or the one named region an htmx request targets."""

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.responses import Response

from app import i18n
from app.i18n import catalogue, current_locale, labels, localized
from app.permissions import ROLE_LABELS, Permission
from app.services.accounts.departments import options as department_options
from app.web import template_gettext
from app.web.http import csrf_token, take_toast

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Blocks(env=env)
env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda message: catalogue(current_locale.get()).gettext(message),
    lambda singular, plural, n: catalogue(current_locale.get()).ngettext(singular, plural, n),
    newstyle=True,
)
template_gettext.install(env)


# Stands for an id while a route's path is worked out once; no real id is this large.
_ID_MARK = 987_654_321_000


@pass_context
def _url_for(context: Context, name: str, /, **path_params: Any) -> str:
    """The path (no host) of the named route, e.g. `url_for("evidence.detail", evidence_id=3)`;
    Starlette's own version gives a full URL, which a page behind a proxy must not print.

    Finding a route walks the route list (0.3 ms for one near its end, and a page links to
    dozens), so each route's path is worked out once per app, with its id parameters as
    placeholders; other parameters take the long way."""
    app = context["request"].app
    if not all(type(value) is int for value in path_params.values()):
        return str(app.url_path_for(name, **path_params))
    key = (name, *sorted(path_params))
    paths: dict[tuple[str, ...], str] = getattr(app.state, "route_paths", {})
    app.state.route_paths = paths
    path = paths.get(key)
    if path is None:
        path = str(app.url_path_for(name, **_placeholders(key[1:])))
        for n, param in enumerate(key[1:]):
            path = path.replace(str(_ID_MARK + n), "{" + param + "}")
        paths[key] = path
    return path.format(**path_params)


def _placeholders(params: tuple[str, ...]) -> dict[str, int]:
    return {param: _ID_MARK + n for n, param in enumerate(params)}


env.globals.update(
    url_for=_url_for,
    localized=localized,
    role_label=lambda role: i18n.gettext(ROLE_LABELS[role]),
    Permission=Permission,
    translate=i18n.gettext,
    label=labels.label,
    department_options=department_options,
    badge=labels.badge,
)


def _local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return str(
        value.astimezone(ZoneInfo(str(env.globals.get("timezone", "Asia/Shanghai")))).strftime(fmt)
    )


env.filters["local_time"] = _local_time


def wants_fragment(request: Request) -> bool:
    """htmx asks for a region of the page; a history restore needs the whole page."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragments: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a page; when htmx targets a known region, only that region's block.

    `fragments` maps the id of an element in the page (the htmx target) to the block that
    renders it, so each piece of markup is written once and the page includes its fragments.
    """
    ctx = {**base_context(request), **(context or {})}
    block = None
    if fragments and wants_fragment(request):
        block = fragments.get(request.headers.get("hx-target", ""))
    response = templates.TemplateResponse(
        request, template, ctx, status_code=status_code, headers=headers, block_name=block
    )
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def base_context(request: Request) -> dict[str, Any]:
    return {
        "actor": getattr(request.state, "actor", None),
        "locale": current_locale.get(),
        "csrf_token": csrf_token(request),
        "htmx": wants_fragment(request),
        "toast": None if wants_fragment(request) else take_toast(request),
    }
