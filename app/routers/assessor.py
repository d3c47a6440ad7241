"""The assessors' side of a dossier link: no sign-in, the link is the key. They see the
dossier's index and the files inside it, nothing else, and every request is logged."""

import zipfile
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.db import SessionDep
from app.errors import Forbidden, NotFound
from app.i18n import gettext as _
from app.jobs import dossier_build
from app.models.dossier import Dossier
from app.routers.dossiers import zip_response
from app.services.certification import assessor_access
from app.services.dossiers import service as dossier_service
from app.web.deps import Now, SettingsDep
from app.web.rendering import render

router = APIRouter(prefix="/assessor", tags=["assessor"], include_in_schema=False)


def _visit(request: Request, session: SessionDep, now: Now, secret: str) -> tuple[Dossier, str]:
    query = f"?{request.url.query}" if request.url.query else ""
    path = request.url.path.replace(secret, "…") + query  # the log never holds the key
    address = request.client.host if request.client else ""
    try:
        access, dossier = assessor_access.resolve(session=session, now=now, secret=secret)
    except Forbidden:
        # A withdrawn or expired link still in use is worth knowing about.
        refused = assessor_access.lookup(session=session, secret=secret)
        if refused is not None:
            assessor_access.record_visit(
                session=session, now=now, access=refused, path=f"{path} (refused)", address=address
            )
            session.commit()
        raise
    assessor_access.record_visit(
        session=session, now=now, access=access, path=path, address=address
    )
    session.commit()
    return dossier, access.name


def _archive(settings: SettingsDep, dossier: Dossier) -> zipfile.ZipFile:
    path = dossier_service.path_of(dossier_build.dossiers_dir(settings), dossier)
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        raise NotFound(_("The dossier file is missing; build a new one.")) from None


def _names(settings: SettingsDep, dossier: Dossier) -> list[str]:
    with _archive(settings, dossier) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


@router.get("/{secret}")
def index(
    request: Request, session: SessionDep, now: Now, settings: SettingsDep, secret: str
) -> Response:
    dossier, name = _visit(request, session, now, secret)
    return render(
        request,
        "dossiers/assessor.html",
        {
            "dossier": dossier,
            "assessor": name,
            "secret": secret,
            "names": _names(settings, dossier),
            "quote": quote,
        },
    )


@router.get("/{secret}/dossier.zip")
def whole(
    request: Request, session: SessionDep, now: Now, settings: SettingsDep, secret: str
) -> Response:
    dossier, _name = _visit(request, session, now, secret)
    return zip_response(settings, dossier)


@router.get("/{secret}/file")
def one_file(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    secret: str,
    path: str = "",
) -> Response:
    """One entry of the dossier, by its name in the archive; nothing outside it."""
    dossier, _name = _visit(request, session, now, secret)
    if path not in set(_names(settings, dossier)):
        raise NotFound(_("This file is not part of the dossier."))
    with _archive(settings, dossier) as archive:
        data = archive.read(path)  # entries are evidence files within the upload limit
    filename = path.rsplit("/", 1)[-1]
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
