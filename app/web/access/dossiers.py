"""Dossiers by their path id, and a dossier through an assessor's link: the link is the key,
and every use of it, refused ones included, is recorded."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.db import SessionDep, begin_writing
from app.errors import Forbidden
from app.models.dossier import Dossier
from app.services.certification import assessor_access
from app.services.dossiers import service as dossier_service
from app.web.deps import Now


def dossier_by_id(session: SessionDep, dossier_id: int) -> Dossier:
    return dossier_service.get(session=session, dossier_id=dossier_id)


DossierById = Annotated[Dossier, Depends(dossier_by_id)]


@dataclass(frozen=True)
class Visit:
    dossier: Dossier
    assessor: str  # the name the link was given


def assessor_visit(request: Request, session: SessionDep, now: Now, secret: str) -> Visit:
    """The dossier a live link opens; the visit is committed before anything is shown."""
    query = f"?{request.url.query}" if request.url.query else ""
    path = request.url.path.replace(secret, "…") + query  # the log never holds the key
    address = request.client.host if request.client else ""
    begin_writing(session)  # every visit is recorded, so the whole check runs under the lock
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
    return Visit(dossier, access.name)


AssessorVisit = Annotated[Visit, Depends(assessor_visit)]
