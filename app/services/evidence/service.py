"""Evidence and its revisions: register entries, uploads, links, withdrawal.

A revision's content never changes once created; only its submission and approval are stamped
on it. What a reviewer approves, and how a change to it becomes a revision that waits for
approval, is `evidence.approval`.
"""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.models.department import Department
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceKind,
    EvidenceRevision,
    EvidenceStatus,
    StoredFile,
)
from app.models.user import User
from app.services.activity import service as activity
from app.services.files import store as file_store
from app.services.files.check import check_content, check_name
from app.services.loading import found
from app.settings import Settings


def get(*, session: Session, evidence_id: int) -> Evidence:
    return found(session.get(Evidence, evidence_id), _("This evidence does not exist."))


def get_revision(*, session: Session, evidence_id: int, revision_id: int) -> EvidenceRevision:
    revision = session.get(EvidenceRevision, revision_id)
    if revision is None or revision.evidence_id != evidence_id:
        raise NotFound(_("This revision does not exist."))
    return revision


def revisions(*, session: Session, evidence_id: int) -> list[EvidenceRevision]:
    return list(
        session.exec(
            select(EvidenceRevision)
            .where(EvidenceRevision.evidence_id == evidence_id)
            .order_by(col(EvidenceRevision.number).desc())
        ).all()
    )


def latest_revision(*, session: Session, evidence_id: int) -> EvidenceRevision | None:
    return session.exec(
        select(EvidenceRevision)
        .where(EvidenceRevision.evidence_id == evidence_id)
        .order_by(col(EvidenceRevision.number).desc())
        .limit(1)
    ).first()


def effective_revision(*, session: Session, evidence_id: int) -> EvidenceRevision | None:
    """The newest approved revision: the one in force until a newer one is approved."""
    return session.exec(
        select(EvidenceRevision)
        .where(
            EvidenceRevision.evidence_id == evidence_id,
            col(EvidenceRevision.approved_at).is_not(None),
        )
        .order_by(col(EvidenceRevision.number).desc())
        .limit(1)
    ).first()


# "Current" has one definition, used for single items and in SQL for lists and coverage:
# an approved revision exists, the item is not obsolete, and its review date has not passed.
def is_expired(evidence: Evidence, today: date) -> bool:
    return (
        evidence.status != EvidenceStatus.obsolete
        and evidence.next_review_date is not None
        and evidence.next_review_date < today
    )


def expired_clause(today: date) -> ColumnElement[bool]:
    """`is_expired` as a WHERE clause."""
    return and_(
        col(Evidence.status) != EvidenceStatus.obsolete, col(Evidence.next_review_date) < today
    )


def has_approved_revision() -> ColumnElement[bool]:
    return exists().where(
        col(EvidenceRevision.evidence_id) == Evidence.id,
        col(EvidenceRevision.approved_at).is_not(None),
    )


def current_clause(today: date) -> ColumnElement[bool]:
    return and_(
        col(Evidence.status) != EvidenceStatus.obsolete,
        has_approved_revision(),
        or_(col(Evidence.next_review_date).is_(None), col(Evidence.next_review_date) >= today),
    )


def check_entry(session: Session, data: EvidenceCreate, evidence_id: int | None) -> None:
    """Refuse an entry whose reference, owner, department or address cannot be kept."""
    if data.reference:
        clash = session.exec(
            select(Evidence).where(Evidence.reference == data.reference.strip())
        ).first()
        if clash is not None and clash.id != evidence_id:
            raise Conflict(
                _("Another evidence item already uses this reference number."), field="reference"
            )
    _check_owner(session, data.owner_id)
    if data.department_id is not None and session.get(Department, data.department_id) is None:
        raise Invalid(_("Choose an existing department."), field="department_id")
    if data.kind == EvidenceKind.link and not data.url.startswith(("http://", "https://")):
        raise Invalid(
            _("Enter the address of the linked item, starting with http:// or https://."),
            field="url",
        )


def _check_owner(session: Session, owner_id: int | None) -> None:
    """Reminders go to owners, so an owner must be someone who can still receive them."""
    if owner_id is None:
        return
    owner = session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise Invalid(_("Choose an active user as owner."), field="owner_id")


def fold(text: str) -> str:
    """Search text and queries are compared in lower case, so a plain LIKE finds them."""
    return text.lower()


def search_text(*, title: str, description: str, reference: str | None, names: list[str]) -> str:
    # One field per line: a query never matches across the end of one field and the next.
    return fold("\n".join([title, description, reference or "", *names]))


def refuse_obsolete(evidence: Evidence) -> None:
    """A withdrawn item keeps its history as it is: nothing is added to it."""
    if evidence.status == EvidenceStatus.obsolete:
        raise Conflict(_("This evidence is obsolete; create a new item instead."))


def lock(session: Session, evidence: Evidence) -> None:
    """Re-read the item and hold it until commit (FOR UPDATE; SQLite's transactions already
    hold the write lock). An upload reads its body outside any transaction, and two changes
    must not each compute the search text from their own older copy; an approval must not
    pass a revision added while it decides."""
    session.flush()  # the re-read must not drop changes made earlier in this transaction
    session.refresh(evidence, with_for_update=True)


def refresh_search_text(session: Session, evidence: Evidence) -> None:
    """Recompute the folded search text from the entry and every revision's file name."""
    names = session.exec(
        select(EvidenceRevision.original_name)
        .where(EvidenceRevision.evidence_id == evidence.id)
        .order_by(col(EvidenceRevision.number))
    ).all()
    evidence.search_text = search_text(
        title=evidence.title,
        description=evidence.description,
        reference=evidence.reference,
        names=list(names),
    )


def entry_fields(data: EvidenceCreate) -> dict[str, Any]:
    """The form's values as stored: reference and title trimmed, an empty reference none."""
    values = data.model_dump()
    values["reference"] = (data.reference or "").strip() or None
    values["title"] = data.title.strip()
    return values


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: EvidenceCreate
) -> Evidence:
    """A register entry in draft; files come as revisions."""
    check_entry(session, data, None)
    evidence = Evidence(**entry_fields(data), created_at=now, updated_at=now)
    evidence.search_text = search_text(
        title=evidence.title,
        description=evidence.description,
        reference=evidence.reference,
        names=[],
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=evidence,
        object_type="evidence",
        after=data.model_dump(),
    )
    if data.kind == EvidenceKind.link:
        first_link_revision(session, now, actor_id, evidence)
    return evidence


def first_link_revision(
    session: Session, now: datetime, actor_id: int | None, evidence: Evidence
) -> EvidenceRevision:
    """A link has no upload: its title and address are its first revision."""
    assert evidence.id is not None
    revision = EvidenceRevision(
        evidence_id=evidence.id,
        number=1,
        title=evidence.title,
        url=evidence.url,
        uploaded_by_id=actor_id,
        uploaded_at=now,
    )
    session.add(revision)
    session.flush()
    return revision


@dataclass(frozen=True)
class Upload:
    name: str
    stream: BinaryIO
    period_from: date | None = None
    period_to: date | None = None
    change_note: str = ""


@dataclass(frozen=True)
class UploadLimits:
    files_dir: Path
    max_bytes: int
    extensions: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> "UploadLimits":
        return cls(
            settings.files_dir, settings.upload_max_mb * 1024 * 1024, settings.allowed_extensions
        )


def add_revision(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    upload: Upload,
    limits: UploadLimits,
) -> tuple[EvidenceRevision, file_store.Stored]:
    """Store the file and add it as the next revision (in draft).

    The caller commits, and on failure calls `file_store.discard` so no orphan file stays.
    """
    refuse_obsolete(evidence)
    if evidence.kind == EvidenceKind.link:
        raise Conflict(_("Linked evidence has no files; edit its address instead."))
    if upload.period_from and upload.period_to and upload.period_to < upload.period_from:
        raise Invalid(_("The period must end on or after its start."), field="period_to")
    name, extension = check_name(upload.name, limits.extensions)
    stored = file_store.store(upload.stream, limits.files_dir, limits.max_bytes)
    try:
        # Locked only once the file is stored: the copy takes a while, and on SQLite the lock
        # stops every other writer. The item may have been made obsolete meanwhile.
        lock(session, evidence)
        refuse_obsolete(evidence)
        checked = check_content(name, extension, stored.head, stored.path)
        latest = session.exec(
            select(EvidenceRevision)
            .where(EvidenceRevision.evidence_id == evidence.id)
            .order_by(col(EvidenceRevision.number).desc())
            .limit(1)
        ).first()
        if latest is not None and latest.sha256 == stored.sha256:
            raise Conflict(
                _("This file is identical to revision %(n)d; nothing to add.", n=latest.number),
                field="file",
            )
        if session.get(StoredFile, stored.sha256) is None:
            session.add(StoredFile(sha256=stored.sha256, size=stored.size, created_at=now))
            session.flush()  # the revision's foreign key needs the row first
            # Content found already stored may be an orphan that housekeeping deleted while
            # this insert waited for its lock (file_verify.sweep_orphans): never commit a
            # row without its file.
            if not stored.path.exists():
                raise Conflict(_("The file could not be stored; upload it again."), field="file")
        assert evidence.id is not None
        revision = EvidenceRevision(
            evidence_id=evidence.id,
            number=(latest.number if latest else 0) + 1,
            sha256=stored.sha256,
            size=stored.size,
            mime_type=checked.mime_type,
            original_name=checked.name,
            period_from=upload.period_from,
            period_to=upload.period_to,
            # A title proposed but not yet approved travels on with the newer file.
            title=latest.title if latest is not None else evidence.title,
            url=latest.url if latest is not None else evidence.url,
            change_note=upload.change_note.strip(),
            uploaded_by_id=actor_id,
            uploaded_at=now,
        )
        session.add(revision)
        session.flush()
    except BaseException:
        file_store.discard(stored)
        raise
    # The approved revision stays in force while the new one is drafted and reviewed.
    in_force = effective_revision(session=session, evidence_id=evidence.id) is not None
    evidence.status = EvidenceStatus.approved if in_force else EvidenceStatus.draft
    evidence.updated_at = now
    refresh_search_text(session, evidence)
    session.add(evidence)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="upload",
        object_type="evidence",
        object_id=evidence.id,
        after={"revision": revision.number, "sha256": stored.sha256, "name": checked.name},
    )
    return revision, stored


def make_obsolete(
    *, session: Session, now: datetime, actor_id: int | None, evidence: Evidence
) -> None:
    """Withdraw a document; it stays readable, marked obsolete, and no longer covers anything."""
    if evidence.status == EvidenceStatus.obsolete:
        return
    before = {"status": evidence.status}
    evidence.status = EvidenceStatus.obsolete
    evidence.updated_at = now
    session.add(evidence)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="obsolete",
        object_type="evidence",
        object_id=evidence.id,
        before=before,
        after={"status": EvidenceStatus.obsolete},
    )
