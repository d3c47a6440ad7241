"""The document register (文件清单) in Excel: export, and import with a preview."""

import secrets
from io import BytesIO
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep, release_write_lock
from app.deps import Now, SettingsDep
from app.errors import Conflict, DomainError, NotFound
from app.forms import save_upload
from app.i18n import gettext as _
from app.routers.evidence import EditorDep
from app.services import evidence_excel, import_previews
from app.services.excel_reading import read_limits
from app.settings import Settings
from app.templating import render
from app.web import redirect

router = APIRouter(prefix="/evidence", tags=["evidence"], include_in_schema=False)

IMPORT_MAX_MB = 10


@router.get("/export.xlsx")
def export(session: SessionDep, now: Now, viewer: EditorDep) -> Response:
    buffer = BytesIO()
    evidence_excel.export_register(session=session, viewer=viewer).save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": (
                f'attachment; filename="document-register-{local_date(now)}.xlsx"'
            )
        },
    )


@router.get("/import")
def import_page(request: Request, viewer: EditorDep) -> Response:
    return render(
        request,
        "evidence/import.html",
        {"rows": None, "token": None, "errors": {}, "headers": evidence_excel.headers()},
    )


def _imports_dir(settings: Settings) -> Path:
    path = settings.data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@router.post("/import")
async def import_preview(
    request: Request, session: SessionDep, settings: SettingsDep, viewer: EditorDep
) -> Response:
    """Read the uploaded register and show every row with its errors; nothing is written yet."""
    release_write_lock(session)
    form = await request.form(max_files=1)
    errors: dict[str, str] = {}
    status = 200
    rows = None
    token = secrets.token_hex(16)
    imports = _imports_dir(settings)
    target = imports / f"{viewer.id}-{token}.xlsx"
    try:
        await save_upload(form, target, max_mb=IMPORT_MAX_MB)
        # The sheet is read in a child process with a time limit (excel_reading); this thread
        # only waits for it, and checks the rows against the database afterwards.
        rows = await run_in_threadpool(
            evidence_excel.read_rows,
            session=session,
            path=target,
            viewer=viewer,
            limits=read_limits(settings),
        )
    except DomainError as exc:
        errors[exc.field or "file"] = exc.message
        status = exc.status_code
        target.unlink(missing_ok=True)
    else:
        import_previews.keep_newest(
            imports, user_id=viewer.id, keep=settings.import_previews_per_user, current=target
        )
    return render(
        request,
        "evidence/import.html",
        {
            "rows": rows,
            "token": token if rows else None,
            "errors": errors,
            "headers": evidence_excel.headers(),
        },
        status_code=status,
    )


@router.post("/import/confirm")
def import_confirm(  # plain def: reading the sheet and inserting up to 2,000 items is slow work
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    viewer: EditorDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    if not token.isalnum() or len(token) != 32:
        raise NotFound()
    preview = _imports_dir(settings) / f"{viewer.id}-{token}.xlsx"  # only the uploader's own
    path = preview.with_name(f"{preview.stem}{import_previews.CLAIMED}.xlsx")
    try:
        # Claimed by an atomic rename: a double-clicked confirm imports once, never twice.
        preview.rename(path)
    except FileNotFoundError:
        raise NotFound(_("This import has expired; upload the file again.")) from None
    try:
        rows = evidence_excel.read_rows(
            session=session, path=path, viewer=viewer, limits=read_limits(settings)
        )
        created = evidence_excel.import_rows(
            session=session, now=now, actor_id=viewer.id, rows=rows
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            _("Some items were created meanwhile; nothing was imported. Check the register.")
        ) from None
    finally:
        path.unlink(missing_ok=True)
    skipped = sum(1 for r in rows if r.errors)
    return redirect(
        request,
        "/evidence",
        toast=_(
            "%(created)d items imported, %(skipped)d rows skipped.",
            created=created,
            skipped=skipped,
        ),
    )
