"""The document register (文件清单) in Excel: export, and import with a preview."""

from io import BytesIO
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.i18n import gettext as _
from app.services.evidence import excel as evidence_excel
from app.web import import_flow
from app.web.access.evidence import EditorDep
from app.web.deps import Now, SettingsDep
from app.web.http import redirect
from app.web.rendering import render

router = APIRouter(prefix="/evidence", tags=["evidence"], include_in_schema=False)

IMPORT_MAX_MB = 10


@router.get("/export.xlsx")
def export(session: SessionDep, now: Now, actor: EditorDep) -> Response:
    buffer = BytesIO()
    evidence_excel.export_register(session=session, actor=actor).save(buffer)
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
def import_page(request: Request, actor: EditorDep) -> Response:
    return render(
        request,
        "evidence/import.html",
        {"rows": None, "token": None, "errors": {}, "headers": evidence_excel.headers()},
    )


REGISTER: import_flow.ExcelImport[evidence_excel.ImportRow] = import_flow.ExcelImport(
    kind="",
    read=lambda path, limits: evidence_excel.read_sheet(path, limits=limits),
    check=lambda session, sheet, actor: evidence_excel.check_rows(
        session=session, sheet=sheet, actor=actor
    ),
    write=lambda session, now, actor_id, rows: evidence_excel.import_rows(
        session=session, now=now, actor_id=actor_id, rows=rows
    ),
    expired=lambda: _("This import has expired; upload the file again."),
    clashed=lambda: _(
        "Some items were created meanwhile; nothing was imported. Check the register."
    ),
)


@router.post("/import")
async def import_preview(
    request: Request, session: SessionDep, settings: SettingsDep, actor: EditorDep
) -> Response:
    """Read the uploaded register and show every row with its errors; nothing is written yet."""
    preview = await import_flow.preview(
        REGISTER,
        request=request,
        session=session,
        settings=settings,
        actor=actor,
        max_mb=IMPORT_MAX_MB,
    )
    return render(
        request,
        "evidence/import.html",
        {
            "rows": preview.rows,
            "token": preview.token,
            "errors": preview.errors,
            "headers": evidence_excel.headers(),
        },
        status_code=preview.status_code,
    )


@router.post("/import/confirm")
def import_confirm(  # plain def: checking and inserting up to 2,000 items is slow work
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: EditorDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    created, skipped = import_flow.confirm(
        REGISTER, session=session, now=now, settings=settings, actor=actor, token=token
    )
    return redirect(
        request,
        "/evidence",
        toast=_(
            "%(created)d items imported, %(skipped)d rows skipped.",
            created=created,
            skipped=skipped,
        ),
    )
