"""Working through an audit's checklist: results, notes, the evidence seen, findings.

A result other than conforming or not audited is a finding; a major or minor nonconformity
finding opens a nonconformity record at once, owned by the audited department's head. Once
that record exists the item's result is settled there, not here.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, func, true
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.actor import Actor
from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.models.audit import (
    FINDING_RESULTS,
    NONCONFORMING_RESULTS,
    Audit,
    AuditKind,
    AuditRequirement,
    AuditStatus,
    ChecklistEvidence,
    ChecklistItem,
    ChecklistResult,
    Finding,
)
from app.models.department import Department
from app.models.evidence import Evidence, EvidenceRequirement, EvidenceRevision, EvidenceStatus
from app.models.nonconformity import NcGrade, NcSource, NonconformityCreate
from app.models.requirement import Requirement
from app.models.user import User
from app.services.activity import service as activity
from app.services.evidence.access import may_view, visible_clause
from app.services.nonconformities import service as nonconformity_service

NOTES_MAX = 4000


class RevisionRef(NamedTuple):
    id: int
    number: int


class EvidenceRef(NamedTuple):
    id: int
    title: str


@dataclass
class Seen:
    """An evidence revision as the auditor saw it (or as offered: only what the row shows)."""

    revision: EvidenceRevision | RevisionRef
    evidence: Evidence | EvidenceRef
    visible: bool = True  # False: restricted evidence this actor may not see; no title shown


@dataclass
class Row:
    item: ChecklistItem
    requirement: Requirement
    department: Department
    seen: list[Seen] = field(default_factory=list)
    finding: Finding | None = None

    @property
    def seen_ids(self) -> list[str]:
        """The revisions recorded as seen, as the form's checkbox values."""
        return [str(s.revision.id) for s in self.seen]


def get_item(*, session: Session, audit: Audit, item_id: int) -> ChecklistItem:
    item = session.get(ChecklistItem, item_id)
    if item is None or item.audit_id != audit.id:
        raise NotFound(_("This checklist item does not exist."))
    return item


@dataclass(frozen=True)
class RowFilter:
    department_id: int | None = None
    todo: bool = False  # only items without a result


def _filtered(audit: Audit, filters: RowFilter) -> Any:
    query = select(ChecklistItem.id).where(ChecklistItem.audit_id == audit.id)
    if filters.department_id is not None:
        query = query.where(ChecklistItem.department_id == filters.department_id)
    if filters.todo:
        query = query.where(ChecklistItem.result == ChecklistResult.not_audited)
    return query


def page(
    *,
    session: Session,
    audit: Audit,
    actor: Actor | None,
    filters: RowFilter,
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """One page of the filtered checklist and how many items match, all in SQL."""
    matching = _filtered(audit, filters)
    total = session.exec(select(func.count()).select_from(matching.subquery())).one()
    ids = session.exec(
        matching.order_by(col(ChecklistItem.position), col(ChecklistItem.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return rows(session=session, audit=audit, actor=actor, item_ids=list(ids)), total


def rows(
    *,
    session: Session,
    audit: Audit,
    actor: Actor | None = None,
    item_ids: Sequence[int] | None = None,
) -> list[Row]:
    """Checklist items in catalogue order, with the pinned evidence and findings: three
    queries."""
    query = (
        select(ChecklistItem, Requirement, Department)
        .join(Requirement, col(Requirement.id) == ChecklistItem.requirement_id)
        .join(Department, col(Department.id) == ChecklistItem.department_id)
        .where(ChecklistItem.audit_id == audit.id)
        .order_by(col(ChecklistItem.position), col(ChecklistItem.id))
    )
    if item_ids is not None:
        query = query.where(col(ChecklistItem.id).in_(item_ids))
    result = [
        Row(item, requirement, department) for item, requirement, department in session.exec(query)
    ]
    by_id = {row.item.id: row for row in result}
    if not by_id:
        return result
    seen = session.exec(
        select(ChecklistEvidence.item_id, EvidenceRevision, Evidence)
        .join(EvidenceRevision, col(EvidenceRevision.id) == ChecklistEvidence.revision_id)
        .join(Evidence, col(Evidence.id) == EvidenceRevision.evidence_id)
        .where(col(ChecklistEvidence.item_id).in_(by_id))
        .order_by(col(Evidence.title), col(EvidenceRevision.number))
    ).all()
    for item_id, revision, evidence in seen:
        visible = actor is None or may_view(actor, evidence)
        by_id[item_id].seen.append(Seen(revision, evidence, visible))
    findings = session.exec(select(Finding).where(col(Finding.checklist_item_id).in_(by_id))).all()
    for finding in findings:
        by_id[finding.checklist_item_id].finding = finding
    return result


CHOICES_PER_CLAUSE = 10


def _linked(audit: Audit, actor: Actor | None, requirement_ids: Sequence[int] | None) -> Any:
    """Live evidence linked to the clauses in scope that the actor may see, with a revision to
    tick (an item still waiting for its first file is not offered, nor counted as "more")."""
    has_revision = exists().where(col(EvidenceRevision.evidence_id) == Evidence.id)
    query = (
        select(EvidenceRequirement.requirement_id, EvidenceRequirement.evidence_id)
        .join(
            AuditRequirement,
            col(AuditRequirement.requirement_id) == EvidenceRequirement.requirement_id,
        )
        .join(Evidence, col(Evidence.id) == EvidenceRequirement.evidence_id)
        .where(
            AuditRequirement.audit_id == audit.id,
            Evidence.status != EvidenceStatus.obsolete,
            has_revision,
            visible_clause(actor) if actor is not None else true(),
        )
    )
    if requirement_ids is not None:
        query = query.where(col(EvidenceRequirement.requirement_id).in_(requirement_ids))
    return query


@dataclass
class Offer:
    choices: dict[int, list[Seen]]  # by requirement: the newest items, at most CHOICES_PER_CLAUSE
    more: set[int]  # requirements with more live items linked than are offered

    def listed(self, row: Row) -> list[Seen]:
        """The row's evidence column: what the auditor saw that is no longer among the newest,
        then the newest. Worked out here, not with template filters: the checklist draws 25
        rows of up to ten each."""
        offered = self.choices.get(row.item.requirement_id, [])
        newest = {s.revision.id for s in offered}
        return [s for s in row.seen if s.revision.id not in newest] + offered


def offered(
    *,
    session: Session,
    audit: Audit,
    actor: Actor | None = None,
    requirement_ids: Sequence[int] | None = None,
) -> Offer:
    """Per requirement in scope, the newest revision of the most recently updated live
    evidence items linked to it (at most `CHOICES_PER_CLAUSE`), and whether there are more:
    what an auditor would ask to see. A clause with hundreds of records would otherwise put
    thousands of checkboxes on the page; the rest are one click away in the register.

    One query, ranking each clause's items and keeping one more than it offers, which tells
    whether there are more: counting them all as well (3,400 for a page of 25 clauses in the
    large data set) cost a third of the query, for a number the page only needs as "more or
    not". A per-clause subquery with LIMIT was faster on SQLite but PostgreSQL planned it
    as a filter over every pair of clause and evidence item (minutes)."""
    ranked = (
        _linked(audit, actor, requirement_ids)
        .add_columns(
            func.row_number()
            .over(
                partition_by=col(EvidenceRequirement.requirement_id),
                order_by=(col(Evidence.updated_at).desc(), col(Evidence.id).desc()),
            )
            .label("rank"),
        )
        .subquery()
    )
    other = aliased(EvidenceRevision)
    latest = (
        select(func.max(other.number))
        .where(other.evidence_id == ranked.c.evidence_id)
        .correlate(ranked)
        .scalar_subquery()
    )
    query = (
        sa_select(
            ranked.c.requirement_id,
            ranked.c.rank,
            col(EvidenceRevision.id),
            col(EvidenceRevision.number),
            col(Evidence.id),
            col(Evidence.title),
        )
        .join(Evidence, col(Evidence.id) == ranked.c.evidence_id)
        .join(
            EvidenceRevision,
            (col(EvidenceRevision.evidence_id) == Evidence.id)
            & (col(EvidenceRevision.number) == latest),
        )
        .where(ranked.c.rank <= CHOICES_PER_CLAUSE + 1)
        .order_by(col(Evidence.title))
    )
    # Plain columns, not two ORM objects per offered revision: building those was as long as
    # the query itself (25 clauses × up to 10 items on every checklist page).
    found: Any = session.execute(query).all()
    offer = Offer(choices={}, more=set())
    for requirement_id, rank, revision_id, number, evidence_id, title in found:
        if rank > CHOICES_PER_CLAUSE:
            offer.more.add(requirement_id)
            continue
        seen = Seen(RevisionRef(revision_id, number), EvidenceRef(evidence_id, title))
        offer.choices.setdefault(requirement_id, []).append(seen)
    return offer


def record(
    *,
    session: Session,
    now: datetime,
    actor_id: int,
    audit: Audit,
    item: ChecklistItem,
    result: ChecklistResult,
    notes: str,
    revision_ids: Sequence[int],
) -> ChecklistItem:
    """Save one item; findings and nonconformities follow the result."""
    if audit.status != AuditStatus.in_progress:
        raise Conflict(_("Results are recorded while the audit is in progress."))
    notes = notes.strip()
    if len(notes) > NOTES_MAX:
        raise Invalid(_("Use at most %(max)d characters.", max=NOTES_MAX), field="notes")
    if result in FINDING_RESULTS and not notes:
        raise Invalid(_("Describe what you found."), field="notes")
    revision_ids = sorted(set(revision_ids))
    pinned = sorted(
        session.exec(
            select(ChecklistEvidence.revision_id).where(ChecklistEvidence.item_id == item.id)
        )
    )
    new = [r for r in revision_ids if r not in pinned]
    if new:
        # Only revisions of evidence linked to this item's clause can be pinned anew.
        offered = session.exec(
            select(func.count())
            .select_from(EvidenceRevision)
            .join(
                EvidenceRequirement,
                col(EvidenceRequirement.evidence_id) == EvidenceRevision.evidence_id,
            )
            .where(
                col(EvidenceRevision.id).in_(new),
                EvidenceRequirement.requirement_id == item.requirement_id,
            )
        ).one()
        if offered != len(new):
            raise Invalid(_("Choose one of the offered options."), field="revision_ids")
    finding = session.exec(select(Finding).where(Finding.checklist_item_id == item.id)).first()
    if finding is not None and finding.nonconformity_id is not None and result != finding.grade:
        raise Conflict(
            _(
                "This item has raised nonconformity #%(id)d; its grade is settled there.",
                id=finding.nonconformity_id,
            )
        )
    before = {"result": item.result, "notes": item.notes, "revision_ids": pinned}
    after = {"result": result, "notes": notes, "revision_ids": revision_ids}
    if before == after:
        return item
    item.result = result
    item.notes = notes
    item.audited_by_id = actor_id
    item.audited_at = now
    session.add(item)
    if pinned != revision_ids:
        session.exec(delete(ChecklistEvidence).where(col(ChecklistEvidence.item_id) == item.id))
        session.add_all(
            ChecklistEvidence(item_id=item.id or 0, revision_id=r) for r in revision_ids
        )
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="checklist_item",
        object_id=item.id,
        before=before,
        after=after,
    )
    _sync_finding(session, now, actor_id, audit, item, finding)
    return item


def _sync_finding(
    session: Session,
    now: datetime,
    actor_id: int,
    audit: Audit,
    item: ChecklistItem,
    finding: Finding | None,
) -> None:
    if item.result not in FINDING_RESULTS:
        if finding is not None:
            session.delete(finding)
            activity.record(
                session=session,
                now=now,
                actor_id=actor_id,
                verb="delete",
                object_type="finding",
                object_id=finding.id,
                before={"grade": finding.grade, "statement": finding.statement},
            )
        return
    if finding is None:
        finding = Finding(
            audit_id=audit.id or 0,
            checklist_item_id=item.id,
            grade=item.result,
            statement=item.notes,
            requirement_id=item.requirement_id,
            department_id=item.department_id,
            created_by_id=actor_id,
            created_at=now,
        )
        activity.created(
            session=session,
            now=now,
            actor_id=actor_id,
            obj=finding,
            object_type="finding",
            after={"grade": item.result, "statement": item.notes, "item_id": item.id},
        )
    else:
        finding.grade = item.result
        finding.statement = item.notes
        session.add(finding)
    if item.result in NONCONFORMING_RESULTS and finding.nonconformity_id is None:
        finding.nonconformity_id = _raise_nonconformity(session, now, actor_id, audit, item)
        session.add(finding)


def _raise_nonconformity(
    session: Session, now: datetime, actor_id: int, audit: Audit, item: ChecklistItem
) -> int | None:
    requirement = session.get(Requirement, item.requirement_id)
    department = session.get(Department, item.department_id)
    assert requirement is not None
    assert department is not None
    head = session.get(User, department.head_id) if department.head_id else None
    title = f"{requirement.clause} {requirement.title_zh} — {department.name}"
    nonconformity = nonconformity_service.create(
        session=session,
        now=now,
        actor_id=actor_id,
        data=NonconformityCreate(
            title=title[:200],
            description=item.notes,
            source=(
                NcSource.internal_audit
                if audit.kind == AuditKind.internal
                else NcSource.external_audit
            ),
            grade=NcGrade.major if item.result == ChecklistResult.major_nc else NcGrade.minor,
            requirement_id=item.requirement_id,
            department_id=item.department_id,
            owner_id=head.id if head is not None and head.is_active else None,
        ),
        audit_id=audit.id,
    )
    return nonconformity.id


def result_counts(*, session: Session, audit_id: int) -> dict[ChecklistResult, int]:
    counts = dict.fromkeys(ChecklistResult, 0)
    for result, count in session.exec(
        select(ChecklistItem.result, func.count())
        .where(ChecklistItem.audit_id == audit_id)
        .group_by(col(ChecklistItem.result))
    ).all():
        counts[ChecklistResult(result)] = count
    return counts


def findings(
    *, session: Session, audit: Audit
) -> list[tuple[Finding, Requirement | None, Department | None]]:
    return list(
        session.exec(
            select(Finding, Requirement, Department)
            .outerjoin(Requirement, col(Requirement.id) == Finding.requirement_id)
            .outerjoin(Department, col(Department.id) == Finding.department_id)
            .where(Finding.audit_id == audit.id)
            .order_by(col(Finding.grade), col(Requirement.position), col(Finding.id))
        ).all()
    )
