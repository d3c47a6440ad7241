"""The preview-then-confirm flow that every Excel import (the document register, the
self-assessment results) goes through; each router keeps its own URLs, page, messages and
size limit.

Preview: the upload is read in a time-limited child process (excel_reading), its rows are
checked and shown with their errors, and the cells are kept (import_previews). Confirm:
the preview is claimed, the same cells are checked against the database again, as it may
have changed, and the rows without errors are written. Nothing is written before the confirm,
and a preview that was shown can be confirmed without reading the workbook again."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.actor import Actor
from app.db import release_write_lock
from app.errors import Conflict, DomainError, NotFound, Unavailable
from app.i18n import gettext as _
from app.services.imports import previews as import_previews
from app.services.imports import time_limited
from app.services.imports.excel_reading import Sheet, read_limits
from app.settings import Settings
from app.web.forms import save_upload


class CheckedRow(Protocol):
    errors: list[str]


Row = TypeVar("Row", bound=CheckedRow)


@dataclass(frozen=True)
class ExcelImport(Generic[Row]):
    """One kind of import: how its sheet is read, checked and written, and what its user is
    told when the preview is gone or its rows were created meanwhile by someone else."""

    kind: str  # in the names of its preview files, so that two kinds never share a token
    read: Callable[[Path, time_limited.Limits], Sheet]
    check: Callable[[Session, Sheet, Actor], list[Row]]
    write: Callable[[Session, datetime, int | None, list[Row]], int]
    expired: Callable[[], str]
    clashed: Callable[[], str]


@dataclass(frozen=True)
class Preview(Generic[Row]):
    rows: list[Row] | None
    token: str | None  # None when the upload was refused
    errors: dict[str, str]
    status_code: int


async def preview(
    spec: ExcelImport[Row],
    *,
    request: Request,
    session: Session,
    settings: Settings,
    actor: Actor,
    max_mb: int,
) -> Preview[Row]:
    """Read the uploaded workbook and check its rows; nothing is written to the database."""
    release_write_lock(session)  # not held while the body arrives and the sheet is read
    form = await request.form(max_files=1)
    imports = import_previews.imports_dir(settings.data_dir)
    token = import_previews.new_token()
    path = import_previews.preview_path(imports, user_id=actor.id, kind=spec.kind, token=token)
    workbook = path.with_suffix(".xlsx")
    try:
        try:
            await save_upload(form, workbook, max_mb=max_mb)
            # This thread only waits for the child process that reads the sheet.
            sheet = await run_in_threadpool(spec.read, workbook, read_limits(settings))
        finally:
            workbook.unlink(missing_ok=True)  # the preview keeps the cells, not the file
        rows = await run_in_threadpool(spec.check, session, sheet, actor)
    except DomainError as exc:
        return Preview(None, None, {exc.field or "file": exc.message}, exc.status_code)
    import_previews.save(path, sheet)
    import_previews.keep_newest(
        imports, user_id=actor.id, keep=settings.import_previews_per_user, current=path
    )
    return Preview(rows, token, {}, 200)


def confirm(
    spec: ExcelImport[Row],
    *,
    session: Session,
    now: datetime,
    settings: Settings,
    actor: Actor,
    token: str,
) -> tuple[int, int]:
    """Write the previewed rows that have no errors; returns how many were created and how
    many were skipped. Runs in a worker thread: checking and writing 2,000 rows takes time."""
    if not import_previews.is_token(token):
        raise NotFound()
    path = import_previews.preview_path(
        import_previews.imports_dir(settings.data_dir),
        user_id=actor.id,  # only the uploader's own
        kind=spec.kind,
        token=token,
    )
    try:
        claimed = import_previews.claim(path)
    except FileNotFoundError:
        raise NotFound(spec.expired()) from None
    try:
        # In a savepoint: a failure rolls back what the import wrote and nothing else, so the
        # signed-in user that the error page shows stays loaded (a rollback of the whole
        # transaction would expire it, and the page is drawn after the session is closed).
        with session.begin_nested():
            rows = spec.check(session, import_previews.load(claimed), actor)
            created = spec.write(session, now, actor.id, rows)
        session.commit()
    except IntegrityError:
        # A unique key taken meanwhile by another transaction, which this one's checks could
        # not see yet: the preview no longer shows what would happen, so it is dropped.
        claimed.unlink(missing_ok=True)
        raise Conflict(spec.clashed()) from None
    except BaseException as exc:
        # The preview was not at fault (a database busy past its timeout, a connection lost):
        # it is put back, to be confirmed again.
        import_previews.unclaim(claimed, path)
        if isinstance(exc, OperationalError):
            raise Unavailable(
                _("The database is busy and nothing was imported; confirm again in a minute.")
            ) from None
        raise
    claimed.unlink(missing_ok=True)
    return created, sum(1 for row in rows if row.errors)
