"""Hourly housekeeping: remove what nobody will come back for.

Excel import previews nobody confirmed (they may hold personal data), uploads cut off by a
crash (partial files, and stored files whose rows never committed), and the files of superseded
dossiers. Each sweep runs on its own: one that fails is logged and the others still run.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.jobs.dossier_build import dossiers_dir
from app.services.dossiers import service as dossier_service
from app.services.evidence.excel import sweep_previews
from app.services.files.store import sweep_partial_uploads
from app.services.files.verify import sweep_orphans
from app.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings, session_factory: Any = None, now: datetime | None = None) -> None:
    """Every sweep once; the database sweeps only when given a session factory."""
    now = now or datetime.now(UTC)
    sweeps: list[tuple[str, Callable[[], object]]] = [
        ("import previews", lambda: sweep_previews(settings.data_dir / "imports", now.timestamp())),
        ("partial uploads", lambda: sweep_partial_uploads(settings.files_dir, now.timestamp())),
    ]
    if session_factory is not None:
        sweeps += [
            ("orphan files", lambda: _orphan_files(settings, session_factory, now)),
            ("old dossiers", lambda: _old_dossiers(settings, session_factory, now)),
        ]
    for name, sweep in sweeps:
        try:
            sweep()
        except Exception:  # housekeeping must never stop the scheduler, nor one sweep the next
            log.exception("housekeeping: sweeping %s failed", name)


def _orphan_files(settings: Settings, session_factory: Any, now: datetime) -> None:
    with session_factory() as session:
        sweep_orphans(session=session, files_dir=settings.files_dir, now=now)
        session.commit()  # releases the lock that uploads of the same content wait for


def _old_dossiers(settings: Settings, session_factory: Any, now: datetime) -> None:
    with session_factory() as session:
        dossier_service.sweep(session=session, dossiers_dir=dossiers_dir(settings), now=now)
        session.commit()
