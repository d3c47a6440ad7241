"""The assessors' side of a dossier link: no sign-in, the link is the key. They see the
dossier's index and the files inside it, nothing else, and every request is logged."""

import zipfile
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.errors import NotFound
from app.i18n import gettext as _
from app.jobs import dossier_build
from app.models.dossier import Dossier
from app.services.dossiers import service as dossier_service
from app.web.access.dossiers import AssessorVisit
from app.web.deps import SettingsDep
from app.web.dossier_files import zip_response
from app.web.rendering import render

router = APIRouter(prefix="/assessor", tags=["assessor"], include_in_schema=False)


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
def index(request: Request, settings: SettingsDep, visit: AssessorVisit, secret: str) -> Response:
    return render(
        request,
        "dossiers/assessor.html",
        {
            "dossier": visit.dossier,
            "assessor": visit.assessor,
            "secret": secret,
            "names": _names(settings, visit.dossier),
            "quote": quote,
        },
    )


@router.get("/{secret}/dossier.zip")
def whole(settings: SettingsDep, visit: AssessorVisit) -> Response:
    return zip_response(dossier_build.dossiers_dir(settings), visit.dossier)


@router.get("/{secret}/file")
def one_file(settings: SettingsDep, visit: AssessorVisit, path: str = "") -> Response:
    """One entry of the dossier, by its name in the archive; nothing outside it."""
    dossier = visit.dossier
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
