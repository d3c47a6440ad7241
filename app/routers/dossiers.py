"""Submission dossiers: request a build, watch its progress, download it, share it with
the assessment body through a time-limited link."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import Invalid
from app.i18n import gettext as _
from app.jobs import dossier_build
from app.models.dossier import Dossier, DossierStatus
from app.permissions import Permission
from app.services.certification import assessor_access
from app.services.dossiers import service as dossier_service
from app.web.access.dossiers import DossierById
from app.web.deps import Now, SettingsDep, require
from app.web.dossier_files import zip_response
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


@router.get("/{dossier_id:int}")
def detail(
    request: Request, session: SessionDep, actor: BuilderDep, dossier: DossierById
) -> Response:
    return _page(request, session, dossier)


@router.get("/{dossier_id:int}/download")
def download(settings: SettingsDep, actor: BuilderDep, dossier: DossierById) -> Response:
    return zip_response(dossier_build.dossiers_dir(settings), dossier)


@router.post("/{dossier_id:int}/assessors")
async def share(
    request: Request, session: SessionDep, now: Now, actor: SharerDep, dossier: DossierById
) -> Response:
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


@router.post("/assessors/{access_id:int}/revoke")
def revoke(
    request: Request, session: SessionDep, now: Now, actor: SharerDep, access_id: int
) -> Response:
    access = assessor_access.revoke(
        session=session, now=now, actor_id=actor.id, access_id=access_id
    )
    session.commit()
    return redirect(request, f"/dossiers/{access.dossier_id}", toast=_("The link was withdrawn."))
