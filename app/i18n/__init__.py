"""Translations: English message ids, zh_CN (default) and en catalogues compiled by Babel.

The locale of the current request lives in a context variable, set by a middleware from the
user's setting, then the language cookie, then Accept-Language.
"""

import gettext as gettext_module
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_DIR = Path(__file__).parent / "locales"

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)

_catalogues: dict[str, gettext_module.NullTranslations] = {}


def catalogue(locale: str) -> gettext_module.NullTranslations:
    if locale not in _catalogues:
        _catalogues[locale] = gettext_module.translation(
            "messages", LOCALE_DIR, languages=[locale], fallback=True
        )
    return _catalogues[locale]


def gettext(message: str, **values: Any) -> str:
    text = catalogue(current_locale.get()).gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    text = catalogue(current_locale.get()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


_ = gettext


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Speak another language for a while (e-mails are written in the recipient's)."""
    token = current_locale.set(locale)
    try:
        yield
    finally:
        current_locale.reset(token)


def N_(message: str) -> str:  # noqa: N802 - the conventional name Babel extracts
    """Marks a string for extraction; it is translated later, where it is shown."""
    return message


def negotiate(accept_language: str | None) -> str | None:
    """The first supported locale named in an Accept-Language header."""
    if not accept_language:
        return None
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower().replace("-", "_")
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def localized(obj: Any, field: str) -> str:
    """The current-locale variant of a bilingual column pair such as title_zh / title_en."""
    suffix = "zh" if current_locale.get() == "zh_CN" else "en"
    value = getattr(obj, f"{field}_{suffix}")
    return str(value or getattr(obj, f"{field}_zh") or "")
