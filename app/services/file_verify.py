"""Checking the file store against the database: missing, altered and orphaned files."""

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from app.models.evidence import StoredFile
from app.services import file_store


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
