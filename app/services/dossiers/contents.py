"""What goes into a submission dossier: the clauses with the current approved revision of
each linked file, the register, and the reports (latest internal audit, latest management
review, corrective-action closure, readiness)."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.audit import Audit, AuditKind, AuditStatus
from app.models.evidence import (
    Confidentiality,
    Evidence,
    EvidenceRequirement,
    EvidenceRevision,
    EvidenceStatus,
)
from app.models.nonconformity import NcStatus, Nonconformity, Verification
from app.models.requirement import Requirement
from app.models.review import ManagementReview, ReviewStatus
from app.models.user import User
from app.services.audits import report as audit_report
from app.services.documents import Report, Section, Table
from app.services.reviews import report as review_report


class EvidenceRef(NamedTuple):
    """The evidence columns a dossier needs. Tens of thousands of links at the large data
    set's size: plain tuples instead of ORM objects keep the list at a tenth of the memory."""

    id: int
    reference: str | None
    title: str
    confidentiality: Confidentiality
    url: str


class RevisionRef(NamedTuple):
    number: int
    sha256: str | None
    original_name: str
    approved_at: datetime | None


@dataclass(slots=True)
class DossierFile:
    evidence: EvidenceRef
    revision: RevisionRef | None  # the approved revision in force; None: nothing to add
    arcname: str = ""  # where it sits in the ZIP, when it is included

    @property
    def included(self) -> bool:
        return bool(self.arcname)


@dataclass
class DossierClause:
    requirement: Requirement
    chapter: Requirement | None
    files: list[DossierFile] = field(default_factory=list)


def _safe(text: str) -> str:
    """A name that is valid in a ZIP on every desktop and in a link of the index: no
    separators, reserved or URL-special characters; shortened before the extension."""
    cleaned = "".join("_" if ch in '\\/:*?"<>|#%' or ord(ch) < 32 else ch for ch in text)
    cleaned = cleaned.strip(" .") or "_"
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix) > 10:
        return cleaned[:120]
    return f"{stem[: 120 - len(suffix) - 1]}.{suffix}"


def clauses(*, session: Session) -> list[DossierClause]:
    """Every clause in catalogue order with the live evidence linked to it: four queries."""
    requirements = session.exec(
        select(Requirement).order_by(col(Requirement.framework_id), col(Requirement.position))
    ).all()
    chapters = {r.id: r for r in requirements if r.chapter_id is None}
    result = {
        r.id: DossierClause(r, chapters.get(r.chapter_id))
        for r in requirements
        if r.chapter_id is not None
    }
    in_force = (
        select(EvidenceRevision.evidence_id, func.max(EvidenceRevision.number).label("number"))
        .where(col(EvidenceRevision.approved_at).is_not(None))
        .group_by(col(EvidenceRevision.evidence_id))
        .subquery()
    )
    links = session.execute(
        select(
            EvidenceRequirement.requirement_id,
            *(getattr(Evidence, name) for name in EvidenceRef._fields),
            *(getattr(EvidenceRevision, name) for name in RevisionRef._fields),
        )
        .join(Evidence, col(Evidence.id) == EvidenceRequirement.evidence_id)
        .outerjoin(in_force, in_force.c.evidence_id == Evidence.id)
        .outerjoin(
            EvidenceRevision,
            (col(EvidenceRevision.evidence_id) == Evidence.id)
            & (col(EvidenceRevision.number) == in_force.c.number),
        )
        .where(Evidence.status != EvidenceStatus.obsolete)
        .order_by(col(Evidence.reference), col(Evidence.title))
    )
    split = 1 + len(EvidenceRef._fields)
    for row in links:
        clause = result.get(row[0])
        if clause is None:
            continue
        evidence = EvidenceRef(*row[1:split])
        # No approved revision: the outer join's columns are all NULL.
        revision = RevisionRef(*row[split:]) if row[split] is not None else None
        file = DossierFile(evidence, revision)
        if (
            revision is not None
            and revision.sha256
            and evidence.confidentiality != Confidentiality.restricted
        ):
            chapter = clause.chapter.clause if clause.chapter else "_"
            prefix = str(evidence.reference or evidence.id)
            original = revision.original_name or "file"
            name = _safe(original if original.startswith(prefix) else f"{prefix}-{original}")
            folder = f"{_safe(chapter)}/{_safe(clause.requirement.clause)}"
            file.arcname = f"evidence/{folder}/{name}"
        clause.files.append(file)
    return list(result.values())


def latest_audit_report(*, session: Session) -> Report | None:
    audit = session.exec(
        select(Audit)
        .where(
            Audit.kind == AuditKind.internal,
            col(Audit.status).in_((AuditStatus.reporting, AuditStatus.closed)),
        )
        .order_by(col(Audit.actual_end).desc(), col(Audit.id).desc())
        .limit(1)
    ).first()
    return audit_report.build(session=session, audit=audit) if audit else None


def latest_review_report(*, session: Session, today: date) -> Report | None:
    review = session.exec(
        select(ManagementReview)
        .where(col(ManagementReview.status).in_((ReviewStatus.held, ReviewStatus.signed)))
        .order_by(col(ManagementReview.held_on).desc(), col(ManagementReview.id).desc())
        .limit(1)
    ).first()
    return review_report.build(session=session, review=review, today=today) if review else None


CLOSURE_ROWS = 500


def capa_closure_report(*, session: Session) -> Report:
    """Closed nonconformities with how they were corrected and who verified effectiveness."""
    last_check = (
        select(Verification.nonconformity_id, func.max(Verification.id).label("id"))
        .group_by(col(Verification.nonconformity_id))
        .subquery()
    )
    rows = session.exec(
        select(Nonconformity, Verification, User.name)
        .join(last_check, last_check.c.nonconformity_id == Nonconformity.id)
        .join(Verification, col(Verification.id) == last_check.c.id)
        .outerjoin(User, col(User.id) == Verification.verified_by_id)
        .where(Nonconformity.status == NcStatus.closed)
        .order_by(col(Nonconformity.id))
        .limit(CLOSURE_ROWS)
    ).all()
    return Report(
        title=_("Corrective actions: closure evidence"),
        facts=[(_("Closed nonconformities"), str(len(rows)))],
        sections=[
            Section(
                _("Closed nonconformities"),
                table=Table(
                    [
                        _("Nonconformity"),
                        _("Grade"),
                        _("Correction"),
                        _("Root cause"),
                        _("Verification"),
                    ],
                    [
                        [
                            f"NC-{nc.id} {nc.title}",
                            label(nc.grade),
                            nc.correction,
                            nc.root_cause,
                            f"{label(check.verdict)} · {name or ''} · {check.notes}",
                        ]
                        for nc, check, name in rows
                    ],
                ),
                empty=_("No nonconformity has been closed yet."),
            )
        ],
        filename="corrective-actions",
    )
