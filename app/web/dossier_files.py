"""A finished dossier as a download, for its builders and for assessors through their link."""

from pathlib import Path

from fastapi.responses import FileResponse
from starlette.responses import Response

from app.errors import Conflict, NotFound
from app.i18n import gettext as _
from app.models.dossier import Dossier, DossierStatus
from app.services.dossiers import service as dossier_service


def zip_response(directory: Path, dossier: Dossier) -> Response:
    """The dossier's archive from `directory` (where the build job writes it)."""
    if dossier.status != DossierStatus.ready:
        raise Conflict(_("This dossier is not finished."))
    path = dossier_service.path_of(directory, dossier)
    if not path.is_file():
        raise NotFound(_("The dossier file is missing; build a new one."))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=dossier.file_name,
        content_disposition_type="attachment",
    )
