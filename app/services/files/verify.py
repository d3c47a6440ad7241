"""Checking the file store against the database: missing, altered and orphaned files."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models.evidence import StoredFile
from app.services.files import store as file_store


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.altered


def verify(*, session: Session, files_dir: Path) -> VerifyReport:
    """Re-hash every stored file; files on disk that no row names are reported as orphans."""
    report = VerifyReport()
    known: set[str] = set()
    for row in session.exec(select(StoredFile).order_by(StoredFile.sha256)).yield_per(500):
        known.add(row.sha256)
        report.checked += 1
        path = file_store.path_for(files_dir, row.sha256)
        if not path.exists():
            report.missing.append(row.sha256)
        elif file_store.hash_file(path) != row.sha256:
            report.altered.append(row.sha256)
    report.orphans = [p for p in file_store.files_on_disk(files_dir) if p.name not in known]
    return report


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:  # a failed upload discarded it meanwhile
        return False


def sweep_orphans(*, session: Session, files_dir: Path, now: datetime) -> int:
    """Delete stored files that no row names and that are older than any upload in progress:
    what a process killed between storing an upload and committing its rows leaves behind."""
    cutoff = now.timestamp() - file_store.PARTIAL_MAX_AGE_SECONDS
    old = {p.name: p for p in file_store.files_on_disk(files_dir) if _older(p, cutoff)}
    if not old:
        return 0
    # Someone may be uploading the same content right now and find the file already there.
    # Its StoredFile insert waits for this lock (on SQLite, the write lock every transaction
    # takes); `evidence.add_revision` checks that the file still exists after that insert.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stored_file IN SHARE MODE"))
    names = sorted(old)
    known: set[str] = set()
    for offset in range(0, len(names), 500):
        chunk = names[offset : offset + 500]
        known.update(
            session.exec(select(StoredFile.sha256).where(col(StoredFile.sha256).in_(chunk)))
        )
    orphans = old.keys() - known
    for name in orphans:
        old[name].unlink(missing_ok=True)
    return len(orphans)
