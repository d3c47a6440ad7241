"""Pydantic validation errors as messages in the user's language, one per field.

Used by forms and by the Excel imports alike.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from app.i18n import gettext as _


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return _("This field is required.")
    if kind == "string_too_short":
        return _("Use at least %(min)d characters.", min=ctx.get("min_length", 0))
    if kind == "string_too_long":
        return _("Use at most %(max)d characters.", max=ctx.get("max_length", 0))
    if kind == "string_pattern_mismatch":
        return _("Use only letters, digits, '-' and '_'.")
    if kind in {"int_parsing", "int_type", "float_parsing"}:
        return _("Enter a whole number.")
    if kind in {"enum", "literal_error"}:
        return _("Choose one of the offered options.")
    if kind in {"bool_parsing", "bool_type"}:
        return _("Choose yes or no.")
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return _("Enter a valid e-mail address.")
    if kind in {"greater_than_equal", "less_than_equal"}:
        return _("This number is out of range.")
    return _("This value is not valid.")


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The first message for each field, keyed by field name."""
    messages: dict[str, str] = {}
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        name = str(loc[0]) if loc else "__all__"
        messages.setdefault(name, _message(error))
    return messages
