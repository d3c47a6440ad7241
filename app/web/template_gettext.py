"""`_()` and `gettext()` in templates, as Jinja's i18n extension defines them (new style:
the text is a format string, its values escaped in HTML) but without its layers of calls.

The extension resolves `gettext` through the template context twice and formats even a
text without values, 14 µs a call; a page with a few hundred cells that each carry a
translated title spent a fifth of its time there. A translated text without values is the
same for every call in a locale, so it is kept once formatted."""

from functools import lru_cache
from typing import Any

from jinja2 import Environment, pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from app.i18n import catalogue, current_locale


@lru_cache(maxsize=8192)
def _translated(locale: str, message: str, autoescape: bool) -> str:
    text = catalogue(locale).gettext(message)
    # The catalogue is ours, as trusted as the template it is written in (the extension does
    # the same); values put into it are escaped by `%`.
    return Markup(text) if autoescape else text  # noqa: S704


@lru_cache(maxsize=8192)
def _formatted(locale: str, message: str, autoescape: bool) -> str:
    # `% {}` still turns "%%" into "%", as the extension's new-style gettext does.
    return _translated(locale, message, autoescape) % {}


@pass_eval_context
def template_gettext(eval_ctx: EvalContext, message: str, /, **values: Any) -> str:
    locale = current_locale.get()
    if not values:
        return _formatted(locale, message, eval_ctx.autoescape)
    return _translated(locale, message, eval_ctx.autoescape) % values


def install(env: Environment) -> None:
    """Replaces the extension's gettext and its `_` alias (ngettext and friends stay)."""
    env.globals.update(gettext=template_gettext, _=template_gettext)
