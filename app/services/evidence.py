"""Evidence and its revisions: register entries, uploads, review and approval, links.

What is reviewed is a revision: its file, its period, and the title and address it carries.
The item shows the values of the revision in force (the newest approved one), so a change to
the title, address or period of approved evidence is a new revision, with the newest file,
that waits for approval while the approved one stays in force. Everything else on the entry
(description, reference, owner, department, confidentiality, review cycle, retention) is
register bookkeeping and changes directly. Once created, a revision's content never changes;
only its submission and approval are stamped on it.
"""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from app.clock import local_date
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.i18n import gettext as _
from app.models.department import Department
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceKind,
    EvidenceRevision,
    EvidenceStatus,
    EvidenceUpdate,
    StoredFile,
)
from app.models.user import User
from app.services import activity, file_store
from app.services.file_check import check_content, check_name
from app.settings import Settings


def get(*, session: Session, evidence_id: int) -> Evidence:
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound(_("This evidence does not exist."))
    return evidence


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


def pending_revision(*, session: Session, evidence_id: int) -> EvidenceRevision | None:
    """The newest revision while it is not approved: the one proposed for review. An older
    unapproved revision was superseded and never comes back."""
    latest = latest_revision(session=session, evidence_id=evidence_id)
    return latest if latest is not None and latest.approved_at is None else None


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


def _check(session: Session, data: EvidenceCreate, evidence_id: int | None) -> None:
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


def _refuse_obsolete(evidence: Evidence) -> None:
    if evidence.status == EvidenceStatus.obsolete:
        raise Conflict(_("This evidence is obsolete; create a new item instead."))


def _lock(session: Session, evidence: Evidence) -> None:
    """Re-read the item and hold it until commit (FOR UPDATE; SQLite's transactions already
    hold the write lock). An upload reads its body outside any transaction, and two changes
    must not each compute the search text from their own older copy; an approval must not
    pass a revision added while it decides."""
    session.flush()  # the re-read must not drop changes made earlier in this transaction
    session.refresh(evidence, with_for_update=True)


def _refresh_search_text(session: Session, evidence: Evidence) -> None:
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


def _fields(data: EvidenceCreate) -> dict[str, Any]:
    values = data.model_dump()
    values["reference"] = (data.reference or "").strip() or None
    values["title"] = data.title.strip()
    return values


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: EvidenceCreate
) -> Evidence:
    """A register entry in draft; files come as revisions."""
    _check(session, data, None)
    evidence = Evidence(**_fields(data), created_at=now, updated_at=now)
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
        _first_link_revision(session, now, actor_id, evidence)
    return evidence


def _first_link_revision(
    session: Session, now: datetime, actor_id: int | None, evidence: Evidence
) -> EvidenceRevision:
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


# What a reviewer approves besides the file; the address only means something for a link.
REVIEWED = ("title", "period_from", "period_to")


def _reviewed(kind: EvidenceKind) -> tuple[str, ...]:
    return (*REVIEWED, "url") if kind == EvidenceKind.link else REVIEWED


@dataclass(frozen=True)
class Change:
    evidence: Evidence
    proposal: EvidenceRevision | None  # the new revision awaiting review, if one was needed


def _check_reviewed(
    evidence: Evidence, data: EvidenceUpdate, latest: EvidenceRevision | None
) -> None:
    if data.kind != evidence.kind and latest is not None:
        # A link's revisions carry no file and a file's no address: the history would lie.
        raise Conflict(
            _("The kind cannot change once the item has revisions; create a new item instead."),
            field="kind",
        )
    if latest is None and (data.period_from or data.period_to):
        raise Invalid(
            _("The period belongs to a revision: upload the file first."), field="period_from"
        )
    if data.period_from and data.period_to and data.period_to < data.period_from:
        raise Invalid(_("The period must end on or after its start."), field="period_to")


def _propose(
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    latest: EvidenceRevision,
    changed: dict[str, Any],
) -> EvidenceRevision:
    """The newest revision's file with the changed title, address or period, as a new draft."""
    _refuse_obsolete(evidence)
    assert evidence.id is not None
    revision = EvidenceRevision(
        **latest.model_dump(
            include={
                "sha256",
                "size",
                "mime_type",
                "original_name",
                "period_from",
                "period_to",
                "title",
                "url",
            }
        ),
        evidence_id=evidence.id,
        number=latest.number + 1,
        uploaded_by_id=actor_id,
        uploaded_at=now,
    )
    for name, value in changed.items():
        setattr(revision, name, value)
    session.add(revision)
    session.flush()
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="propose",
        object_type="evidence",
        object_id=evidence.id,
        before={name: getattr(latest, name) for name in changed},
        after={"revision": revision.number, **changed},
    )
    return revision


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    data: EvidenceUpdate,
    overseer: bool = True,
) -> Change:
    """Change the register entry; a new title, address or period of evidence that has
    revisions becomes a new revision for review (see the module's docstring).

    Only an overseer may hand the item to someone else or move its review date: for an owner,
    a later review date would make expired evidence current again without any review."""
    _lock(session, evidence)
    _check(session, data, evidence.id)
    assert evidence.id is not None
    latest = latest_revision(session=session, evidence_id=evidence.id)
    _check_reviewed(evidence, data, latest)
    fields = _fields(data)
    reviewed = {name: fields.pop(name) for name in _reviewed(data.kind)}
    fields.pop("period_from", None)
    fields.pop("period_to", None)
    if not overseer:
        fields["owner_id"], fields["next_review_date"] = (
            evidence.owner_id,
            evidence.next_review_date,
        )
    proposal = None
    if latest is None:
        # Nothing to review yet: the first upload carries these values to its reviewer.
        fields.update(title=reviewed["title"])
        if "url" in reviewed:
            fields.update(url=reviewed["url"])
    else:
        changed = {k: v for k, v in reviewed.items() if getattr(latest, k) != v}
        if changed:
            proposal = _propose(session, now, actor_id, evidence, latest, changed)
            in_force = effective_revision(session=session, evidence_id=evidence.id) is not None
            # Like an upload: the approved revision stays in force while this one is reviewed.
            fields["status"] = EvidenceStatus.approved if in_force else EvidenceStatus.draft
            if not in_force:
                # Nothing in force: the entry shows what is being worked on.
                fields.update(title=proposal.title)
                if "url" in reviewed:
                    fields.update(url=proposal.url)
    before, after = activity.changes(evidence, fields)
    if after:
        for name, value in fields.items():
            setattr(evidence, name, value)
    if after or proposal is not None:
        evidence.updated_at = now
        _refresh_search_text(session, evidence)
        session.add(evidence)
    if after:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="evidence",
            object_id=evidence.id,
            before=before,
            after=after,
        )
    if latest is None and evidence.kind == EvidenceKind.link:
        # A link has no upload: its address is its first revision, as when created as a link.
        proposal = _first_link_revision(session, now, actor_id, evidence)
    return Change(evidence, proposal)


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
    _refuse_obsolete(evidence)
    if evidence.kind == EvidenceKind.link:
        raise Conflict(_("Linked evidence has no files; edit its address instead."))
    if upload.period_from and upload.period_to and upload.period_to < upload.period_from:
        raise Invalid(_("The period must end on or after its start."), field="period_to")
    name, extension = check_name(upload.name, limits.extensions)
    stored = file_store.store(upload.stream, limits.files_dir, limits.max_bytes)
    try:
        # Locked only once the file is stored: the copy takes a while, and on SQLite the lock
        # stops every other writer. The item may have been made obsolete meanwhile.
        _lock(session, evidence)
        _refuse_obsolete(evidence)
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
    _refresh_search_text(session, evidence)
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


def _pending(session: Session, evidence: Evidence) -> EvidenceRevision:
    _refuse_obsolete(evidence)
    assert evidence.id is not None
    revision = pending_revision(session=session, evidence_id=evidence.id)
    if revision is None:
        raise Conflict(_("There is no unapproved revision; upload a new one first."))
    return revision


def submit(
    *, session: Session, now: datetime, actor_id: int | None, evidence: Evidence
) -> EvidenceRevision:
    """Send the newest unapproved revision for review."""
    revision = _pending(session, evidence)
    if revision.submitted_at is not None:
        raise Conflict(_("This revision is already waiting for review."))
    revision.submitted_at = now
    evidence.status = EvidenceStatus.in_review
    evidence.updated_at = now
    session.add_all([revision, evidence])
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="submit",
        object_type="evidence",
        object_id=evidence.id,
        after={"revision": revision.number},
    )
    return revision


def _require_seen(revision: EvidenceRevision, seen_id: int | None) -> None:
    """A decision is about the revision its maker looked at: one added since is not decided
    on unseen."""
    if seen_id != revision.id:
        raise Conflict(
            _(
                "Revision %(n)d was added after you opened this page. Reload the page and look "
                "at it before deciding.",
                n=revision.number,
            )
        )


def approve(
    *,
    session: Session,
    now: datetime,
    actor_id: int,
    evidence: Evidence,
    revision_id: int | None,
) -> EvidenceRevision:
    """Approve the revision under review, the one the approver saw (`revision_id`); from now
    on it never changes, and the item takes its title and address. Not by its uploader."""
    _lock(session, evidence)
    revision = _pending(session, evidence)
    if revision.submitted_at is None:
        raise Conflict(_("Submit the revision for review before approving it."))
    if revision.uploaded_by_id == actor_id:
        raise Forbidden(
            _("A revision must be approved by someone other than the person who uploaded it.")
        )
    _require_seen(revision, revision_id)
    revision.approved_at = now
    revision.approved_by_id = actor_id
    evidence.title, evidence.url = revision.title, revision.url
    _refresh_search_text(session, evidence)
    evidence.status = EvidenceStatus.approved
    if evidence.review_interval_months:
        evidence.next_review_date = local_date(now) + relativedelta(
            months=evidence.review_interval_months
        )
    evidence.updated_at = now
    session.add_all([revision, evidence])
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="approve",
        object_type="evidence",
        object_id=evidence.id,
        after={"revision": revision.number, "next_review_date": evidence.next_review_date},
    )
    return revision


def return_to_draft(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    evidence: Evidence,
    reason: str,
    revision_id: int | None,
) -> EvidenceRevision:
    """Send the revision under review, the one the reviewer saw, back to its author."""
    _lock(session, evidence)
    revision = _pending(session, evidence)
    _require_seen(revision, revision_id)
    if revision.submitted_at is None:
        raise Conflict(_("This revision is not waiting for review."))
    if not reason.strip():
        raise Invalid(_("Say what needs to change."), field="reason")
    revision.submitted_at = None
    has_approved = effective_revision(session=session, evidence_id=evidence.id or 0) is not None
    evidence.status = EvidenceStatus.approved if has_approved else EvidenceStatus.draft
    evidence.updated_at = now
    session.add_all([revision, evidence])
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="return",
        object_type="evidence",
        object_id=evidence.id,
        after={"revision": revision.number, "reason": reason.strip()},
    )
    return revision


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
