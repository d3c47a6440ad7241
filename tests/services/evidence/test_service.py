"""Evidence: storage by hash, upload refusals that leave nothing behind, review and approval."""

import io
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from app.errors import Conflict, Forbidden, Invalid
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceRevision,
    EvidenceStatus,
    StoredFile,
)
from app.services.evidence import approval
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.services.files import store as file_store
from app.services.files.store import TooLarge
from tests.factories import NOW, make_user

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def limits(tmp_path: Path) -> UploadLimits:
    return UploadLimits(
        files_dir=tmp_path / "files",
        max_bytes=1024 * 1024,
        extensions=frozenset({"pdf", "txt", "xlsx"}),
    )


def _upload(
    session: Session,
    evidence: Evidence,
    limits: UploadLimits,
    content: bytes = PDF,
    name: str = "手册.pdf",
    *,
    actor_id: int | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    change_note: str = "",
) -> EvidenceRevision:
    revision, _stored = evidence_service.add_revision(
        session=session,
        now=NOW,
        actor_id=actor_id,
        evidence=evidence,
        upload=Upload(name, io.BytesIO(content), period_from, period_to, change_note),
        limits=limits,
    )
    return revision


def _leftovers(limits: UploadLimits) -> list[Path]:
    return (
        [p for p in limits.files_dir.rglob("*") if p.is_file()] if limits.files_dir.exists() else []
    )


def test_upload_stores_by_hash_once(session: Session, limits: UploadLimits) -> None:
    first = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="管理手册")
    )
    second = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="副本")
    )
    revision = _upload(
        session, first, limits, period_from=date(2026, 1, 1), period_to=date(2026, 6, 30)
    )
    _upload(session, second, limits)
    path = file_store.path_for(limits.files_dir, revision.sha256 or "")
    assert path.read_bytes() == PDF
    assert file_store.hash_file(path) == revision.sha256
    assert _leftovers(limits) == [path]
    assert session.exec(select(func.count()).select_from(StoredFile)).one() == 1
    assert (revision.mime_type, revision.original_name, revision.number) == (
        "application/pdf",
        "手册.pdf",
        1,
    )


def test_identical_upload_to_same_evidence_is_409(session: Session, limits: UploadLimits) -> None:
    evidence = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="x")
    )
    _upload(session, evidence, limits)
    with pytest.raises(Conflict, match="1"):
        _upload(session, evidence, limits)


@pytest.mark.parametrize(
    ("content", "name", "error", "field"),
    [
        (b"", "a.pdf", Invalid, "file"),
        (PDF, "../a.pdf", Invalid, "file"),
        (PDF, "a\x07.pdf", Invalid, "file"),
        (PDF, "a.exe", Invalid, "file"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "a.pdf", Invalid, "file"),
        (b"x" * (1024 * 1024 + 1), "a.txt", TooLarge, "file"),
    ],
)
def test_refused_uploads_leave_no_file_and_no_row(
    session: Session,
    limits: UploadLimits,
    content: bytes,
    name: str,
    error: type[Exception],
    field: str,
) -> None:
    evidence = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="x")
    )
    with pytest.raises(error) as caught:
        _upload(session, evidence, limits, content=content, name=name)
    assert getattr(caught.value, "field", None) == field
    assert _leftovers(limits) == []
    assert session.exec(select(func.count()).select_from(EvidenceRevision)).one() == 0


def test_period_end_before_start_is_refused(session: Session, limits: UploadLimits) -> None:
    evidence = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="x")
    )
    with pytest.raises(Invalid) as caught:
        _upload(session, evidence, limits, period_from=date(2026, 5, 1), period_to=date(2026, 4, 1))
    assert caught.value.field == "period_to"


def test_four_eyes_approval_and_immutable_approved_revision(
    session: Session, limits: UploadLimits
) -> None:
    author, approver = make_user(session), make_user(session)
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(title="文件控制程序", review_interval_months=12),
    )
    first = _upload(session, evidence, limits, actor_id=author.id)
    with pytest.raises(Conflict):
        approval.approve(
            session=session,
            now=NOW,
            actor_id=approver.id or 0,
            evidence=evidence,
            revision_id=first.id,
        )
    approval.submit(session=session, now=NOW, actor_id=author.id, evidence=evidence)
    with pytest.raises(Forbidden):
        approval.approve(
            session=session,
            now=NOW,
            actor_id=author.id or 0,
            evidence=evidence,
            revision_id=first.id,
        )
    approval.approve(
        session=session, now=NOW, actor_id=approver.id or 0, evidence=evidence, revision_id=first.id
    )
    assert evidence.status == EvidenceStatus.approved
    assert evidence.next_review_date == date(2027, 11, 25)
    second = _upload(
        session,
        evidence,
        limits,
        content=PDF + b"%v2\n",
        actor_id=author.id,
        change_note="更新职责",
    )
    assert second.number == 2
    # The approved revision stays in force, unchanged, while the new one is a draft.
    effective = evidence_service.effective_revision(session=session, evidence_id=evidence.id or 0)
    assert effective is not None
    assert (effective.id, effective.sha256) == (first.id, first.sha256)
    assert evidence.status == EvidenceStatus.approved


def test_stale_import_previews_are_swept(tmp_path: Path) -> None:
    import os

    from app.services.evidence.excel import PREVIEW_MAX_AGE_SECONDS, sweep_previews

    old, fresh = tmp_path / "1-old.xlsx", tmp_path / "1-new.xlsx"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    now = fresh.stat().st_mtime
    os.utime(old, (now - PREVIEW_MAX_AGE_SECONDS - 10, now - PREVIEW_MAX_AGE_SECONDS - 10))
    assert sweep_previews(tmp_path, now) == 1
    assert not old.exists()
    assert fresh.exists()


@pytest.mark.slow
def test_an_upload_killed_midway_leaves_only_a_partial_file_that_is_swept(
    tmp_path: Path,
) -> None:
    """The process storing an upload dies (kill -9) halfway: no stored file appears, and the
    partial temporary file is removed by housekeeping once it is clearly abandoned."""
    import signal
    import subprocess
    import sys
    import time

    files_dir = tmp_path / "files"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import io, sys, time\n"
            "from pathlib import Path\n"
            "from app.services.files import store as file_store\n"
            "class Slow(io.RawIOBase):\n"
            "    sent = False\n"
            "    def read(self, n=-1):\n"
            "        if not self.sent:\n"
            "            self.sent = True\n"
            "            return b'x' * (2 * 1024 * 1024)\n"
            "        time.sleep(60)\n"
            "        return b''\n"
            "file_store.store(Slow(), Path(sys.argv[1]), 10**9)\n",
            str(files_dir),
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 20
        partial: list[Path] = []
        while time.monotonic() < deadline:
            partial = [p for p in files_dir.glob(".upload-*") if p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.05)
        assert partial, "the child never started writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert [p for p in files_dir.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    (left,) = partial
    mtime = left.stat().st_mtime
    assert file_store.sweep_partial_uploads(files_dir, mtime + 60) == 0  # might still be writing
    assert (
        file_store.sweep_partial_uploads(files_dir, mtime + file_store.PARTIAL_MAX_AGE_SECONDS + 1)
        == 1
    )
    assert not left.exists()
