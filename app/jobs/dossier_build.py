"""Building a submission dossier: a ZIP written file by file to disk, with progress.

Files are streamed into the archive in chunks and re-hashed on the way; a stored file whose
hash no longer matches fails the build instead of shipping altered evidence. The archive is
written under a temporary name and renamed when complete, so a half-written file is never
offered for download. The last entry, manifest.sha256, lists the hash of every other entry.
"""

import hashlib
import logging
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

from app.clock import local_date
from app.i18n import gettext as _
from app.i18n import use_locale
from app.i18n.labels import label
from app.models.dossier import Dossier, DossierStatus
from app.services.activity import service as activity
from app.services.documents import Report
from app.services.dossiers import contents as dossier_contents
from app.services.dossiers import service as dossier_service
from app.services.evidence.excel import cell_text
from app.services.files import store as file_store
from app.settings import Settings
from app.web.documents import PRINT_CSS, html_to_pdf, pdf_bytes
from app.web.rendering import env

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
TEXT_BLOCK = 64 * 1024  # characters
PROGRESS_EVERY = 0.5  # seconds between progress commits
REPORT_STEPS = 6  # index.html, index.pdf, register, and the reports


def dossiers_dir(settings: Settings) -> Path:
    return settings.data_dir / "dossiers"


def run(session_factory: Callable[[], Session], settings: Settings, dossier_id: int) -> None:
    """The background task: claim the dossier, build it, record a failure."""
    with use_locale(settings.default_locale), session_factory() as session:
        if not _claim(session, dossier_id):
            return
        try:
            build(session=session, settings=settings, dossier_id=dossier_id)
        except Exception as exc:  # the reason is shown on the page; the log has the trace
            log.exception("dossier %s failed", dossier_id)
            session.rollback()
            _fail(session, dossier_id, exc)


def _claim(session: Session, dossier_id: int) -> bool:
    """Race: a double click, a retry after a restart or a second worker may start the same
    dossier. The claim is a compare-and-set from queued to building, committed before any work,
    so exactly one of them builds; the others stop here having written nothing."""
    if not dossier_service.claim(session=session, dossier_id=dossier_id, now=_now()):
        session.rollback()
        return False
    session.commit()
    return True


def _fail(session: Session, dossier_id: int, exc: Exception) -> None:
    dossier = dossier_service.get(session=session, dossier_id=dossier_id)
    dossier.status = DossierStatus.failed
    dossier.active = None
    dossier.error = str(exc)[:1000] or type(exc).__name__
    dossier.finished_at = _now()
    session.add(dossier)
    session.commit()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Entry:
    arcname: str
    sha256: str
    size: int


class Archive:
    """A ZIP being written, remembering the hash of everything put into it."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.entries: list[Entry] = []

    def add_bytes(self, arcname: str, data: bytes) -> None:
        self.zf.writestr(arcname, data)
        self.entries.append(Entry(arcname, hashlib.sha256(data).hexdigest(), len(data)))

    def add_text(self, arcname: str, chunks: Iterable[str]) -> None:
        """A text entry written as it is produced: the index of a large dossier is tens of
        megabytes, which as one string (plus its encoded copy) doubled the build's memory."""
        digest = hashlib.sha256()
        size = 0
        with self.zf.open(arcname, "w", force_zip64=True) as target:
            for data in _blocks(chunks):
                digest.update(data)
                size += len(data)
                target.write(data)
        self.entries.append(Entry(arcname, digest.hexdigest(), size))

    def add_file(self, arcname: str, path: Path, expected_sha256: str) -> None:
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as source, self.zf.open(arcname, "w", force_zip64=True) as target:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise ValueError(
                _("Stored file %(name)s was altered; run 'ronghe files verify'.", name=arcname)
            )
        self.entries.append(Entry(arcname, expected_sha256, size))

    def manifest(self) -> bytes:
        lines = [f"{e.sha256}  {e.arcname}\n" for e in self.entries]
        return "".join(lines).encode("utf-8")


def build(*, session: Session, settings: Settings, dossier_id: int) -> Dossier:
    dossier = dossier_service.get(session=session, dossier_id=dossier_id)
    today = local_date(_now())
    clauses = dossier_contents.clauses(session=session)
    files = {f.arcname: f for c in clauses for f in c.files if f.included}
    dossier.total_files = len(files) + REPORT_STEPS
    _progress(session, dossier, 0, force=True)

    target_dir = dossiers_dir(settings)
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"dossier-{dossier_id}-{today.isoformat()}.zip"
    partial = target_dir / f"{name}.part"
    try:
        _write(session, settings, dossier, partial, clauses, files, today)
    except BaseException:
        partial.unlink(missing_ok=True)  # never leave half a dossier behind
        raise
    final = target_dir / name
    partial.replace(final)
    digest = hashlib.sha256()
    with final.open("rb") as written:
        while chunk := written.read(CHUNK):
            digest.update(chunk)
    finished = _now()
    # Compare-and-set: a build declared stale meanwhile (a new one may be running) must not
    # report success over it.
    done = session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier_id, col(Dossier.status) == DossierStatus.building)
        .values(
            status=DossierStatus.ready,
            active=None,
            file_name=name,
            size=final.stat().st_size,
            sha256=digest.hexdigest(),
            done_files=dossier.total_files,
            finished_at=finished,
        )
    )
    if not getattr(done, "rowcount", 0):
        final.unlink(missing_ok=True)
        session.rollback()
        raise RuntimeError(_("This build was declared interrupted; a newer one replaces it."))
    session.refresh(dossier)
    activity.record(
        session=session,
        now=finished,
        actor_id=dossier.requested_by_id,
        verb="build",
        object_type="dossier",
        object_id=dossier.id,
        after={"file": name, "sha256": dossier.sha256, "files": len(files)},
    )
    session.commit()
    return dossier


def _write(
    session: Session,
    settings: Settings,
    dossier: Dossier,
    partial: Path,
    clauses: list[dossier_contents.DossierClause],
    files: dict[str, dossier_contents.DossierFile],
    today: date,
) -> None:
    done = 0
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        archive = Archive(zf)
        for arcname, file in files.items():
            assert file.revision is not None
            assert file.revision.sha256
            source = file_store.path_for(settings.files_dir, file.revision.sha256)
            if not source.exists():
                raise FileNotFoundError(_("Stored file missing for %(name)s.", name=arcname))
            archive.add_file(arcname, source, file.revision.sha256)
            done += 1
            _progress(session, dossier, done)
        reports = _reports(session, today)
        for path, report in reports:
            archive.add_bytes(path, pdf_bytes(report))
            done += 1
            _progress(session, dossier, done)
        _progress(session, dossier, done, force=True)  # the last steps can take a while
        archive.add_bytes("register.xlsx", _register(clauses))
        archive.add_text("index.html", _index_html(clauses, reports, today, full=True))
        _progress(session, dossier, done, force=True)
        # The PDF lists counts per clause: a file-by-file list of tens of thousands of rows
        # would take minutes and gigabytes to lay out; the HTML and the register have it all.
        archive.add_bytes(
            "index.pdf", html_to_pdf("".join(_index_html(clauses, reports, today, full=False)))
        )
        archive.add_bytes("manifest.sha256", archive.manifest())


def _blocks(pieces: Iterable[str]) -> Iterator[bytes]:
    """A template's many tiny pieces, encoded in blocks of about TEXT_BLOCK characters."""
    pending: list[str] = []
    count = 0
    for piece in pieces:
        pending.append(piece)
        count += len(piece)
        if count >= TEXT_BLOCK:
            yield "".join(pending).encode("utf-8")
            pending, count = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


_last_commit: dict[int, float] = {}


def _progress(session: Session, dossier: Dossier, done: int, *, force: bool = False) -> None:
    """Commit progress at most twice a second, so that the page's progress bar moves."""
    now = time.monotonic()
    if not force and now - _last_commit.get(dossier.id or 0, 0.0) < PROGRESS_EVERY:
        return
    _last_commit[dossier.id or 0] = now
    dossier.done_files = done
    dossier.progress_at = _now()
    session.add(dossier)
    session.commit()


def _reports(session: Session, today: date) -> list[tuple[str, Report]]:
    from app.services.certification import readiness_report

    found: list[tuple[str, Report | None]] = [
        ("reports/readiness.pdf", readiness_report.report(session=session, today=today)),
        ("reports/internal-audit.pdf", dossier_contents.latest_audit_report(session=session)),
        (
            "reports/management-review.pdf",
            dossier_contents.latest_review_report(session=session, today=today),
        ),
        ("reports/corrective-actions.pdf", dossier_contents.capa_closure_report(session=session)),
    ]
    return [(path, report) for path, report in found if report is not None]


REGISTER_HEADERS = (
    "章 Chapter",
    "条款 Clause",
    "条款标题 Title",
    "编号 Reference",
    "证据 Evidence",
    "现行版本 Revision",
    "批准日期 Approved",
    "资料包中的文件 File in dossier",
)


def _register(clauses: Iterable[dossier_contents.DossierClause]) -> bytes:
    # imported here: openpyxl costs 0.2–1 s at start; only the dossier's register needs it
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Register")
    sheet.append(list(REGISTER_HEADERS))
    for clause in clauses:
        chapter = clause.chapter.clause if clause.chapter else ""
        if not clause.files:
            sheet.append([chapter, clause.requirement.clause, clause.requirement.title_zh])
        for file in clause.files:
            revision = file.revision
            sheet.append(
                [
                    chapter,
                    clause.requirement.clause,
                    clause.requirement.title_zh,
                    cell_text(file.evidence.reference or ""),
                    cell_text(file.evidence.title),
                    revision.number if revision else "",
                    local_date(revision.approved_at).isoformat()
                    if revision and revision.approved_at
                    else "",
                    file.arcname or label(file.evidence.confidentiality),
                ]
            )
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _index_html(
    clauses: list[dossier_contents.DossierClause],
    reports: list[tuple[str, Report]],
    today: date,
    *,
    full: bool,
) -> Iterator[str]:
    return env.get_template("dossiers/index_document.html").generate(
        {
            "clauses": clauses,
            "reports": reports,
            "today": today,
            "css": PRINT_CSS.read_text(encoding="utf-8"),
            "locale": "zh_CN",
            "full": full,
        }
    )
