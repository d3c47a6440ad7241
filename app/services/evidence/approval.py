"""Evidence review: a change that needs approval is a revision, submitted, approved or returned."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from app.clock import local_date
from app.errors import Conflict, Forbidden, Invalid
from app.i18n import gettext as _
from app.models.evidence import (
    Evidence,
    EvidenceKind,
    EvidenceRevision,
    EvidenceStatus,
    EvidenceUpdate,
)
from app.services.activity import service as activity
from app.services.evidence.service import (
    check_entry,
    effective_revision,
    entry_fields,
    first_link_revision,
    latest_revision,
    lock,
    refresh_search_text,
    refuse_obsolete,
)

# What is reviewed is a revision: its file, and the title, period and (for a link) address it
# carries. The item shows the values of the revision in force (the newest approved one), so a
# change to them on approved evidence is a new revision, with the newest file, that waits for
# approval while the approved one stays in force. Everything else on the entry (description,
# reference, owner, department, confidentiality, review cycle, retention, and a document's
# address) is register bookkeeping and changes directly.
REVIEWED = ("title", "period_from", "period_to")


def reviewed_fields(kind: EvidenceKind) -> tuple[str, ...]:
    """The fields a reviewer approves besides the file; an address only means something for a
    link, where it is the evidence itself."""
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
    refuse_obsolete(evidence)
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
    revisions becomes a new revision for review.

    Only an overseer may hand the item to someone else or move its review date: for an owner,
    a later review date would make expired evidence current again without any review."""
    lock(session, evidence)
    check_entry(session, data, evidence.id)
    assert evidence.id is not None
    latest = latest_revision(session=session, evidence_id=evidence.id)
    _check_reviewed(evidence, data, latest)
    fields = entry_fields(data)
    reviewed = {name: fields.pop(name) for name in reviewed_fields(data.kind)}
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
        refresh_search_text(session, evidence)
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
        proposal = first_link_revision(session, now, actor_id, evidence)
    return Change(evidence, proposal)


def pending_revision(*, session: Session, evidence_id: int) -> EvidenceRevision | None:
    """The newest revision while it is not approved: the one proposed for review. An older
    unapproved revision was superseded and never comes back."""
    latest = latest_revision(session=session, evidence_id=evidence_id)
    return latest if latest is not None and latest.approved_at is None else None


def _pending(session: Session, evidence: Evidence) -> EvidenceRevision:
    refuse_obsolete(evidence)
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
    on it never changes, and the item takes what it carries. Not by its uploader."""
    lock(session, evidence)
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
    # Only what was reviewed: a document's address is edited directly, and the copy its
    # revision took at upload may be older than the address on the entry.
    for name in ("title", "url"):
        if name in reviewed_fields(evidence.kind):
            setattr(evidence, name, getattr(revision, name))
    refresh_search_text(session, evidence)
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
    lock(session, evidence)
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
