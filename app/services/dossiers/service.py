"""Submission dossiers: one build at a time, its progress, and the file on disk.

A request inserts a row with `active` set; the column is unique, so a second request while
one is queued or building fails on the constraint and gets a clear 409, whichever web worker
it reaches. A build that stops reporting progress for `STALE_AFTER` (the process was
restarted mid-build) is marked failed, so it never blocks the next one.
"""

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.errors import Conflict
from app.i18n import gettext as _
from app.models.certification import AssessorAccess
from app.models.dossier import Dossier, DossierStatus
from app.services.activity import service as activity
from app.services.loading import found

STALE_AFTER = timedelta(minutes=10)
KEEP = 20  # dossiers listed on the page
KEEP_FILES = 5  # dossier files kept on disk, besides those an assessor link still opens


def get(*, session: Session, dossier_id: int) -> Dossier:
    return found(session.get(Dossier, dossier_id), _("This dossier does not exist."))


def recent(*, session: Session) -> list[Dossier]:
    return list(session.exec(select(Dossier).order_by(col(Dossier.id).desc()).limit(KEEP)).all())


def path_of(dossiers_dir: Path, dossier: Dossier) -> Path:
    return dossiers_dir / dossier.file_name


def _expire_stale(session: Session, now: datetime) -> None:
    stale = session.exec(select(Dossier).where(col(Dossier.active).is_(True))).first()
    if stale is None:
        return
    last = stale.progress_at or stale.started_at or stale.requested_at
    if now - last < STALE_AFTER:
        return
    stale.status = DossierStatus.failed
    stale.active = None
    stale.error = _("Interrupted: the build stopped reporting progress (a restart?).")
    stale.finished_at = now
    session.add(stale)
    session.flush()


def request(*, session: Session, now: datetime, actor_id: int | None) -> Dossier:
    """Queue a build; 409 while another one is queued or building."""
    _expire_stale(session, now)
    dossier = Dossier(requested_by_id=actor_id, requested_at=now, active=True)
    try:
        with session.begin_nested():
            session.add(dossier)
    except IntegrityError:
        raise Conflict(
            _("A dossier is being built right now; wait until it is finished.")
        ) from None
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type="dossier",
        object_id=dossier.id,
    )
    return dossier


def claim(*, session: Session, dossier_id: int, now: datetime) -> bool:
    """queued → building, compare-and-set: only one builder ever works on a dossier."""
    result = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier_id, col(Dossier.status) == DossierStatus.queued)
        .values(status=DossierStatus.building, started_at=now, progress_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


def sweep(*, session: Session, dossiers_dir: Path, now: datetime, keep: int = KEEP_FILES) -> int:
    """Delete the files of older dossiers: the newest `keep` stay, and any dossier an
    assessor link still opens. Each file is a full copy of the evidence, so they add up."""
    live_links = select(AssessorAccess.dossier_id).where(
        col(AssessorAccess.revoked_at).is_(None), col(AssessorAccess.expires_at) > now
    )
    newest = (
        select(Dossier.id)
        .where(Dossier.status == DossierStatus.ready)
        .order_by(col(Dossier.id).desc())
        .limit(keep)
    )
    old = session.exec(
        select(Dossier).where(
            Dossier.status == DossierStatus.ready,
            col(Dossier.id).not_in(newest.scalar_subquery()),
            col(Dossier.id).not_in(live_links.scalar_subquery()),
        )
    ).all()
    for dossier in old:
        path_of(dossiers_dir, dossier).unlink(missing_ok=True)
        dossier.status = DossierStatus.failed
        dossier.error = _("Removed to save space; newer dossiers replace it.")
        session.add(dossier)
    return len(old)
