"""Turning Pydantic validation errors into messages in the user's language, per field."""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile

from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.services.validation import describe_errors

M = TypeVar("M", bound=BaseModel)


# Ids are 32-bit in the database; a larger number would overflow the driver, not just miss.
ID_MAX = 2**31 - 1


def parse_id(text: object) -> int | None:
    """A positive id from user input, or None; only ASCII digits ("²".isdigit() is True too)."""
    value = str(text or "")
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) > ID_MAX:
        return None
    return int(value)


def filter_id(value: str | None, field: str | None = None) -> int | None:
    """An optional id from a query or form; empty (a blank select) means none."""
    if not value:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise Invalid(_("Choose one of the offered options."), field=field)
    return parsed


def _bad_ids(data: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, value in data.items():
        if not key.endswith(("_id", "_ids")):
            continue
        for item in value if isinstance(value, list) else [value]:
            if item in (None, ""):
                continue
            if parse_id(item) is None:
                errors[key] = _("Choose one of the offered options.")
    return errors


def validate(model: type[M], data: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The validated model, or the per-field messages to show next to the inputs."""
    id_errors = _bad_ids(data)
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        return None, {**describe_errors(exc.errors()), **id_errors}
    return (None, id_errors) if id_errors else (validated, {})


def form_values(form: Any, *, lists: Sequence[str] = ()) -> dict[str, Any]:
    """Plain values from a submitted form. Blank inputs are left out, so that the model's
    default applies and a required field reports itself as missing; `lists` collects
    repeated inputs such as a group of checkboxes."""
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        if key in lists:
            values[key] = form.getlist(key)
            continue
        value = form.get(key)
        if isinstance(value, str):
            value = value.strip()
            if value:
                values[key] = value
    for key in lists:
        values.setdefault(key, [])
    return values


T = TypeVar("T")


def submit(
    model: type[M], values: Mapping[str, Any], action: Callable[[M], T]
) -> tuple[T | None, dict[str, str], int]:
    """Validate a form and run the service call: (result, field errors, status code).

    The status is 422 for invalid input, or the domain error's own (409 for a conflict)."""
    data, errors = validate(model, values)
    if data is None:
        return None, errors, 422
    try:
        return action(data), {}, 200
    except DomainError as exc:
        return None, {exc.field or "__all__": exc.message}, exc.status_code


async def save_upload(form: FormData, target: Path, *, max_mb: int) -> None:
    """Write the form's `file` to `target` in chunks, refusing a missing file or one over
    `max_mb` (on the "file" field). The caller removes `target` on any refusal."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid(_("Choose a file."), field="file")
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > max_mb * 1024 * 1024:
                raise Invalid(_("The file is larger than %(mb)d MB.", mb=max_mb), field="file")
            out.write(chunk)
