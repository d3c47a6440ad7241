"""Submission dossiers: request a build, watch its progress, download it, share it with
the assessment body through a time-limited link."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import FileResponse
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.jobs import dossier_build
from app.models.dossier import Dossier, DossierStatus
from app.permissions import Permission
from app.services.certification import assessor_access
from app.services.dossiers import service as dossier_service
from app.web.deps import Now, SettingsDep, require
from app.web.forms import parse_id
from app.web.http import redirect
from app.web.rendering import render

router = APIRouter(prefix="/dossiers", tags=["dossiers"], include_in_schema=False)

BuilderDep = Annotated[Actor, Depends(require(Permission.build_dossiers))]
SharerDep = Annotated[Actor, Depends(require(Permission.manage_assessor_access))]
PROGRESS_FRAGMENTS = {"dossier-progress": "progress"}


@router.get("")
def dossier_list(request: Request, session: SessionDep, actor: BuilderDep) -> Response:
    return render(
        request, "dossiers/list.html", {"dossiers": dossier_service.recent(session=session)}
    )


@router.post("")
def request_build(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: BuilderDep,
    tasks: BackgroundTasks,
) -> Response:
    dossier = dossier_service.request(session=session, now=now, actor_id=actor.id)
    session.commit()
    # Runs after the response is sent; the page polls the progress meanwhile.
    tasks.add_task(dossier_build.run, request.app.state.session_factory, settings, dossier.id or 0)
    return redirect(request, f"/dossiers/{dossier.id}", toast=_("The dossier is being built."))


def _page(
    request: Request,
    session: SessionDep,
    dossier: Dossier,
    *,
    new_link: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "dossiers/detail.html",
        {
            "dossier": dossier,
            "links": assessor_access.for_dossier(session=session, dossier_id=dossier.id or 0),
            "new_link": new_link,
            "errors": errors or {},
            "percent": (
                100
                if dossier.status == DossierStatus.ready
                else int(100 * dossier.done_files / dossier.total_files)
                if dossier.total_files
                else 0
            ),
        },
        fragments=PROGRESS_FRAGMENTS,
        status_code=status_code,
    )


@router.get("/{dossier_id}")
def detail(request: Request, session: SessionDep, actor: BuilderDep, dossier_id: int) -> Response:
    return _page(request, session, dossier_service.get(session=session, dossier_id=dossier_id))


@router.get("/{dossier_id}/download")
def download(
    session: SessionDep, settings: SettingsDep, actor: BuilderDep, dossier_id: int
) -> Response:
    dossier = dossier_service.get(session=session, dossier_id=dossier_id)
    return zip_response(settings, dossier)


def zip_response(settings: SettingsDep, dossier: Dossier) -> Response:
    if dossier.status != DossierStatus.ready:
        raise Conflict(_("This dossier is not finished."))
    path = dossier_service.path_of(dossier_build.dossiers_dir(settings), dossier)
    if not path.is_file():
        raise NotFound(_("The dossier file is missing; build a new one."))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=dossier.file_name,
        content_disposition_type="attachment",
    )


@router.post("/{dossier_id}/assessors")
async def share(
    request: Request, session: SessionDep, now: Now, actor: SharerDep, dossier_id: int
) -> Response:
    dossier = dossier_service.get(session=session, dossier_id=dossier_id)
    form = await request.form()
    days = parse_id(form.get("days"))
    try:
        _access, secret = assessor_access.create(
            session=session,
            now=now,
            actor_id=actor.id,
            dossier=dossier,
            name=str(form.get("name") or ""),
            days=days if days is not None else 0,
        )
    except Invalid as exc:
        session.rollback()
        return _page(
            request, session, dossier, errors={exc.field or "__all__": exc.message}, status_code=422
        )
    session.commit()
    # The secret is shown this once; only its hash is kept.
    return _page(request, session, dossier, new_link=f"{request.base_url}assessor/{secret}")


@router.post("/assessors/{access_id}/revoke")
def revoke(
    request: Request, session: SessionDep, now: Now, actor: SharerDep, access_id: int
) -> Response:
    access = assessor_access.revoke(
        session=session, now=now, actor_id=actor.id, access_id=access_id
    )
    session.commit()
    return redirect(request, f"/dossiers/{access.dossier_id}", toast=_("The link was withdrawn."))
