"""Evidence files: uploading a revision (form and API) and downloading one, with checks."""

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep, begin_writing, release_write_lock
from app.errors import DomainError, Invalid, NotFound
from app.i18n import gettext as _
from app.models.evidence import Evidence
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.services.files import store as file_store
from app.services.validation import describe_errors
from app.settings import Settings
from app.web.access.evidence import (
    ApiEditableEvidence,
    ApiEditorDep,
    ApiVisibleEvidence,
    EditableEvidence,
    EditorDep,
    VisibleEvidence,
)
from app.web.deps import Now, SettingsDep
from app.web.evidence_page import detail_response
from app.web.forms import form_values
from app.web.http import MULTIPART_OVERHEAD, toast_header

router = APIRouter(prefix="/evidence", tags=["evidence"], include_in_schema=False)
api_router = APIRouter(tags=["evidence"])


def _too_large(request: Request, settings: Settings) -> bool:
    declared = request.headers.get("content-length", "")
    return (
        declared.isascii()
        and declared.isdigit()
        and int(declared) > settings.upload_max_mb * 1024 * 1024 + MULTIPART_OVERHEAD
    )


@router.post("/{evidence_id:int}/revisions")
async def upload(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: EditorDep,
    evidence: EditableEvidence,
) -> Response:
    """A new revision from a multipart upload (streamed to disk by the form parser)."""
    if _too_large(request, settings):
        return detail_response(
            request,
            session,
            now,
            actor,
            evidence,
            413,
            upload_errors={
                "file": _("The file is larger than %(mb)d MB.", mb=settings.upload_max_mb)
            },
        )
    release_write_lock(session)
    form = await request.form(max_files=1)
    # Copying and hashing the file (up to the upload limit) and the database work go to the
    # threadpool like any plain route's: on the event loop they held up every other request.
    return await run_in_threadpool(
        _add_revision, request, session, now, settings, actor, evidence, form
    )


def _add_revision(
    request: Request,
    session: Session,
    now: datetime,
    settings: Settings,
    actor: Actor,
    evidence: Evidence,
    form: FormData,
) -> Response:
    begin_writing(session)  # the body has arrived; the evidence is read again under the lock
    file = form.get("file")
    values = form_values(form)
    values.pop("file", None)
    try:
        if not isinstance(file, StarletteUpload) or not file.filename:
            raise Invalid(_("Choose a file."), field="file")
        meta = _UploadMeta.model_validate(values)
        revision, stored = evidence_service.add_revision(
            session=session,
            now=now,
            actor_id=actor.id,
            evidence=evidence,
            limits=UploadLimits.from_settings(settings),
            upload=Upload(
                file.filename, file.file, meta.period_from, meta.period_to, meta.change_note
            ),
        )
    except ValidationError as exc:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            actor,
            evidence,
            422,
            upload_errors=describe_errors(exc.errors()),
        )
    except DomainError as exc:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            actor,
            evidence,
            exc.status_code,
            upload_errors={exc.field or "file": exc.message},
        )
    try:
        session.commit()
    except BaseException:
        file_store.discard(stored)  # no file without its row
        raise
    response = detail_response(request, session, now, actor, evidence)
    response.headers.update(toast_header(_("Revision %(n)d uploaded.", n=revision.number)))
    return response


class _UploadMeta(BaseModel):
    period_from: date | None = None
    period_to: date | None = None
    change_note: str = ""

    model_config = {"str_max_length": 4000}


@router.get("/{evidence_id:int}/revisions/{revision_id:int}/download")
def download(
    session: SessionDep,
    settings: SettingsDep,
    evidence: VisibleEvidence,
    revision_id: int,
) -> Response:
    return _file_response(session, settings, evidence, revision_id)


def _file_response(
    session: SessionDep, settings: Settings, evidence: Evidence, revision_id: int
) -> Response:
    assert evidence.id is not None
    revision = evidence_service.get_revision(
        session=session, evidence_id=evidence.id, revision_id=revision_id
    )
    if not revision.sha256:
        raise NotFound(_("This revision has no file."))
    path = file_store.path_for(settings.files_dir, revision.sha256)
    if not path.exists():
        raise NotFound(_("The stored file is missing; run 'ronghe files verify'."))
    return FileResponse(
        path,
        media_type=revision.mime_type or "application/octet-stream",
        filename=revision.original_name or f"revision-{revision.number}",
        content_disposition_type="attachment",
    )


@api_router.post(
    "/evidence/{evidence_id:int}/revisions", status_code=201, summary="Upload a new revision"
)
def api_upload(  # plain def: the copy and hash run in the threadpool, off the event loop
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: ApiEditorDep,
    evidence: ApiEditableEvidence,
    file: UploadFile,
    period_from: Annotated[date | None, Query()] = None,
    period_to: Annotated[date | None, Query()] = None,
    change_note: Annotated[str, Query(max_length=4000)] = "",
) -> dict[str, Any]:
    revision, stored = evidence_service.add_revision(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        limits=UploadLimits.from_settings(settings),
        upload=Upload(file.filename or "", file.file, period_from, period_to, change_note),
    )
    try:
        session.commit()
    except BaseException:
        file_store.discard(stored)
        raise
    return revision.model_dump(mode="json")


@api_router.get(
    "/evidence/{evidence_id:int}/revisions/{revision_id:int}/download",
    summary="Download a revision's file",
)
def api_download(
    session: SessionDep,
    settings: SettingsDep,
    evidence: ApiVisibleEvidence,
    revision_id: int,
) -> Response:
    return _file_response(session, settings, evidence, revision_id)
