"""Read-only, time-limited links for the assessment body's auditors.

A link opens one dossier and the files inside it, nothing else: no sign-in, no other page.
The secret is shown once and only its SHA-256 is stored; every request made with a link is
written to the visit log.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.i18n import gettext as _
from app.models.certification import AssessorAccess, AssessorVisit
from app.models.dossier import Dossier, DossierStatus
from app.services.activity import service as activity

MAX_DAYS = 90
PREFIX = "ra_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(
    *, session: Session, now: datetime, actor_id: int, dossier: Dossier, name: str, days: int
) -> tuple[AssessorAccess, str]:
    name = name.strip()
    if not name:
        raise Invalid(_("This field is required."), field="name")
    if len(name) > 200:
        raise Invalid(_("Use at most %(max)d characters.", max=200), field="name")
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(_("Choose between 1 and %(max)d days.", max=MAX_DAYS), field="days")
    if dossier.status != DossierStatus.ready:
        raise Conflict(_("Only a finished dossier can be shared."))
    secret = PREFIX + secrets.token_urlsafe(32)
    access = AssessorAccess(
        name=name,
        token_hash=_hash(secret),
        dossier_id=dossier.id or 0,
        created_by_id=actor_id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=access,
        object_type="assessor_access",
        after={"name": name, "dossier_id": dossier.id, "days": days},
    )
    return access, secret


def revoke(*, session: Session, now: datetime, actor_id: int, access_id: int) -> AssessorAccess:
    access = session.get(AssessorAccess, access_id)
    if access is None:
        raise NotFound(_("This assessor link does not exist."))
    if access.revoked_at is None:
        access.revoked_at = now
        session.add(access)
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="revoke",
            object_type="assessor_access",
            object_id=access.id,
        )
    return access


def lookup(*, session: Session, secret: str) -> AssessorAccess | None:
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    return session.exec(
        select(AssessorAccess).where(AssessorAccess.token_hash == _hash(secret))
    ).first()


def resolve(*, session: Session, now: datetime, secret: str) -> tuple[AssessorAccess, Dossier]:
    """The link and its dossier, or a clear refusal."""
    access = lookup(session=session, secret=secret)
    if access is None:
        raise NotFound(_("This assessor link does not exist."))
    if access.revoked_at is not None:
        raise Forbidden(_("This assessor link has been withdrawn."))
    if access.expires_at <= now:
        raise Forbidden(_("This assessor link has expired; ask for a new one."))
    dossier = session.get(Dossier, access.dossier_id)
    if dossier is None or dossier.status != DossierStatus.ready:
        raise NotFound(_("This dossier is no longer available."))
    return access, dossier


def record_visit(
    *, session: Session, now: datetime, access: AssessorAccess, path: str, address: str
) -> None:
    session.add(
        AssessorVisit(access_id=access.id or 0, at=now, path=path[:500], address=address[:64])
    )


def for_dossier(*, session: Session, dossier_id: int) -> list[tuple[AssessorAccess, int]]:
    """The links to a dossier with their visit counts, newest first."""
    visits = (
        select(AssessorVisit.access_id, func.count().label("n"))
        .group_by(col(AssessorVisit.access_id))
        .subquery()
    )
    rows = session.exec(
        select(AssessorAccess, func.coalesce(visits.c.n, 0))
        .outerjoin(visits, visits.c.access_id == AssessorAccess.id)
        .where(AssessorAccess.dossier_id == dossier_id)
        .order_by(col(AssessorAccess.id).desc())
    ).all()
    return [(access, int(n)) for access, n in rows]
