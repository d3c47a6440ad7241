"""Certification readiness (评定准备度): five checks per clause, rolled up per chapter and
overall, and the pre-application checklist of domain.md §4.1.

A clause (a requirement of the GB/T 23001 catalogue with a chapter) is *ready* when:

- its applicability is decided: it is applicable, or excluded with a reason. An excluded clause
  is ready and skipped by the other checks; one excluded without a reason is treated as
  applicable until the exclusion is justified;
- it has an owner;
- it is covered by current approved evidence (the coverage module's definition);
- an internal audit recorded a result for it in the last 12 months (the audit's actual start,
  or its planned start when no actual one is recorded);
- no major nonconformity raised against it is still open.

Every check is computed for all clauses at once by a fixed number of queries.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from dateutil.relativedelta import relativedelta
from sqlalchemy import exists, func, or_
from sqlmodel import Session, col, select

from app.actor import Actor
from app.clock import local_date
from app.i18n import N_, localized
from app.i18n import gettext as _
from app.models.audit import Audit, AuditKind, ChecklistItem, ChecklistResult
from app.models.capability import Capability
from app.models.evidence import Evidence, EvidenceRequirement, EvidenceRevision, EvidenceStatus
from app.models.goal import Goal
from app.models.nonconformity import OPEN_NC_STATUSES, NcGrade, Nonconformity
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.models.review import ManagementReview, ReviewStatus
from app.models.strategy import CompetitiveAdvantage, Strategy, StrategyStatus
from app.services.evidence.access import may_view
from app.services.evidence.service import has_approved_revision
from app.services.requirements import coverage
from app.services.requirements.coverage import Coverage

FRAMEWORK_CODE = "GBT23001"
AUDIT_WINDOW_MONTHS = 12


class Check(StrEnum):
    decided = "decided"
    owner = "owner"
    evidence = "evidence"
    audit = "audit"
    major_nc = "major_nc"


CHECK_LABELS: dict[Check, str] = {
    Check.decided: N_("Applicability decided"),
    Check.owner: N_("Owner assigned"),
    Check.evidence: N_("Current approved evidence"),
    Check.audit: N_("Internally audited in the last 12 months"),
    Check.major_nc: N_("No open major nonconformity"),
}


# What the link next to a gap does.
FIX_LABELS: dict[Check, str] = {
    Check.decided: N_("Decide applicability"),
    Check.owner: N_("Assign an owner"),
    Check.evidence: N_("Provide evidence"),
    Check.audit: N_("Plan an internal audit"),
    Check.major_nc: N_("Close the nonconformity"),
}


def check_label(check: Check) -> str:
    return _(CHECK_LABELS[check])


def fix_label(check: Check) -> str:
    return _(FIX_LABELS[check])


@dataclass
class ClauseReadiness:
    requirement: Requirement
    excluded: bool
    failing: tuple[Check, ...]
    major_nc_ids: tuple[int, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.failing


@dataclass
class Rollup:
    total: int = 0
    ready: int = 0
    excluded: int = 0
    failing: dict[Check, int] = field(default_factory=lambda: dict.fromkeys(Check, 0))

    @property
    def percent(self) -> int:
        return round(100 * self.ready / self.total) if self.total else 0

    def passing(self, check: Check) -> int:
        return self.total - self.failing[check]

    def add(self, clause: ClauseReadiness) -> None:
        self.total += 1
        self.ready += clause.ready
        self.excluded += clause.excluded
        for check in clause.failing:
            self.failing[check] += 1


@dataclass
class Gap:
    """One failing check of one clause, with the page where it is fixed."""

    requirement: Requirement
    check: Check
    url: str


@dataclass
class ChapterReadiness:
    chapter: Requirement
    rollup: Rollup


@dataclass
class Readiness:
    framework: Framework | None
    clauses: list[ClauseReadiness]
    chapters: list[ChapterReadiness]
    overall: Rollup

    def gaps(self, check: Check | None = None) -> list[Gap]:
        """Failing checks in catalogue order, one per open major NC for that check."""
        result: list[Gap] = []
        for clause in self.clauses:
            rid = clause.requirement.id
            for failing in clause.failing:
                if check is not None and failing != check:
                    continue
                if failing == Check.major_nc:
                    result.extend(
                        Gap(clause.requirement, failing, f"/nonconformities/{nc_id}")
                        for nc_id in clause.major_nc_ids
                    )
                    continue
                url = {
                    Check.evidence: f"/evidence?requirement={rid}",
                    Check.audit: "/audits",
                }.get(failing, f"/requirements/{rid}")
                result.append(Gap(clause.requirement, failing, url))
        return result


def framework(*, session: Session) -> Framework | None:
    """The GB/T 23001 catalogue readiness is measured against (its newest version)."""
    return session.exec(
        select(Framework)
        .where(Framework.code == FRAMEWORK_CODE)
        .order_by(col(Framework.version).desc())
        .limit(1)
    ).first()


def requirements(
    *, session: Session, framework_id: int
) -> list[tuple[Requirement, RequirementStatus | None]]:
    """Chapters and clauses in catalogue order, each with its status row if it has one."""
    return [
        (requirement, status)
        for requirement, status in session.exec(
            select(Requirement, RequirementStatus)
            .outerjoin(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
            .where(Requirement.framework_id == framework_id)
            .order_by(col(Requirement.position))
        ).all()
    ]


def is_excluded(status: RequirementStatus | None) -> bool:
    """Excluded with a reason: out of scope for every other check."""
    return status is not None and not status.applicable and bool(status.exclusion_reason.strip())


def _audited(session: Session, framework_id: int, today: date) -> set[int]:
    when = func.coalesce(col(Audit.actual_start), col(Audit.planned_start))
    since = today - relativedelta(months=AUDIT_WINDOW_MONTHS)
    rows = session.exec(
        select(ChecklistItem.requirement_id)
        .distinct()
        .join(Audit, col(Audit.id) == ChecklistItem.audit_id)
        .join(Requirement, col(Requirement.id) == ChecklistItem.requirement_id)
        .where(
            Audit.kind == AuditKind.internal,
            ChecklistItem.result != ChecklistResult.not_audited,
            when >= since,
            when <= today,
            Requirement.framework_id == framework_id,
        )
    ).all()
    return set(rows)


def _open_majors(session: Session, framework_id: int) -> dict[int, list[int]]:
    rows = session.exec(
        select(Nonconformity.requirement_id, Nonconformity.id)
        .join(Requirement, col(Requirement.id) == Nonconformity.requirement_id)
        .where(
            Nonconformity.grade == NcGrade.major,
            col(Nonconformity.status).in_(OPEN_NC_STATUSES),
            Requirement.framework_id == framework_id,
        )
        .order_by(col(Nonconformity.id))
    ).all()
    result: dict[int, list[int]] = defaultdict(list)
    for requirement_id, nc_id in rows:
        if requirement_id is not None and nc_id is not None:
            result[requirement_id].append(nc_id)
    return result


def assess(*, session: Session, today: date) -> Readiness:
    """Every clause's checks, with per-chapter and overall roll-ups."""
    catalogue = framework(session=session)
    if catalogue is None or catalogue.id is None:
        return Readiness(None, [], [], Rollup())
    rows = requirements(session=session, framework_id=catalogue.id)
    covered = coverage.by_requirement(session=session, framework_id=catalogue.id, today=today)
    audited = _audited(session, catalogue.id, today)
    majors = _open_majors(session, catalogue.id)

    chapters = {r.id: ChapterReadiness(r, Rollup()) for r, _status in rows if r.chapter_id is None}
    overall = Rollup()
    clauses: list[ClauseReadiness] = []
    for requirement, status in rows:
        if requirement.chapter_id is None or requirement.id is None:
            continue
        if is_excluded(status):
            clause = ClauseReadiness(requirement, excluded=True, failing=())
        else:
            nc_ids = tuple(majors.get(requirement.id, ()))
            failing = [
                check
                for check, passes in (
                    (Check.decided, status is not None and status.applicable),
                    (Check.owner, status is not None and status.owner_id is not None),
                    (Check.evidence, covered.get(requirement.id) == Coverage.covered),
                    (Check.audit, requirement.id in audited),
                    (Check.major_nc, not nc_ids),
                )
                if not passes
            ]
            clause = ClauseReadiness(requirement, False, tuple(failing), nc_ids)
        clauses.append(clause)
        overall.add(clause)
        if requirement.chapter_id in chapters:
            chapters[requirement.chapter_id].rollup.add(clause)
    return Readiness(catalogue, clauses, [c for c in chapters.values() if c.rollup.total], overall)


# --- the pre-application checklist (domain.md §4.1) -----------------------------------------

OPERATING_MONTHS = 3
MANUAL_CLAUSES = ("IIMS.DOC.GENERAL", "IIMS.SCA.SYSTEM")
MANUAL_WORDS = ("手册", "manual")
POLICY_CLAUSE = "IIMS.LEAD.POLICY"
PROOFS_SHOWN = 20


class PreCheck(StrEnum):
    operating = "operating"
    internal_audit = "internal_audit"
    management_review = "management_review"
    no_major_nc = "no_major_nc"
    documents = "documents"


PRE_CHECK_LABELS: dict[PreCheck, str] = {
    PreCheck.operating: N_("System formally running for at least three months"),
    PreCheck.internal_audit: N_(
        "Internal audit after three months, covering all applicable clauses"
    ),
    PreCheck.management_review: N_("Management review held after three months"),
    PreCheck.no_major_nc: N_("No open major nonconformity"),
    PreCheck.documents: N_("Mandatory documented information present"),
}


def pre_check_label(check: PreCheck) -> str:
    return _(PRE_CHECK_LABELS[check])


@dataclass
class Proof:
    """Something found (or missing) behind a check, with where to see it."""

    text: str
    url: str | None = None
    ok: bool = True
    # The evidence named in the text; a actor who may not see it gets a neutral text instead.
    evidence: Evidence | None = None


@dataclass
class PreCheckResult:
    check: PreCheck
    passed: bool
    summary: str
    proofs: list[Proof] = field(default_factory=list)


@dataclass
class Manual:
    evidence: Evidence
    issued_on: date

    @property
    def evidence_id(self) -> int:
        return self.evidence.id or 0

    @property
    def proof(self) -> Proof:
        e = self.evidence
        name = f"{e.reference} {e.title}" if e.reference else e.title
        return Proof(
            _("%(name)s, issued %(date)s", name=name, date=self.issued_on.isoformat()),
            f"/evidence/{self.evidence_id}",
            evidence=e,
        )


def find_manual(*, session: Session) -> Manual | None:
    """The IIMS manual (管理手册) and the day it was first issued.

    The rule: an evidence item that is not obsolete, has at least one approved revision, is
    linked to the GB/T 23001 clause on documented information in general (IIMS.DOC.GENERAL) or
    on the management system (IIMS.SCA.SYSTEM), and whose title contains 手册 or "manual" (any
    case). Its issue date is the local date of its first approved revision. When several items
    qualify, the earliest issued one counts: the system has been running since then.
    """
    first_approved = func.min(col(EvidenceRevision.approved_at))
    row = session.exec(
        select(Evidence, first_approved)
        .join(EvidenceRevision, col(EvidenceRevision.evidence_id) == Evidence.id)
        .join(EvidenceRequirement, col(EvidenceRequirement.evidence_id) == Evidence.id)
        .join(Requirement, col(Requirement.id) == EvidenceRequirement.requirement_id)
        .join(Framework, col(Framework.id) == Requirement.framework_id)
        .where(
            Framework.code == FRAMEWORK_CODE,
            col(Requirement.key).in_(MANUAL_CLAUSES),
            Evidence.status != EvidenceStatus.obsolete,
            col(EvidenceRevision.approved_at).is_not(None),
            or_(*(func.lower(col(Evidence.title)).contains(word) for word in MANUAL_WORDS)),
        )
        .group_by(col(Evidence.id))
        .order_by(first_approved, col(Evidence.id))
        .limit(1)
    ).first()
    if row is None:
        return None
    evidence, approved_at = row
    if approved_at is None:
        return None
    return Manual(evidence, local_date(approved_at))


def _clause_numbers(session: Session, keys: tuple[str, ...]) -> str:
    numbers = session.exec(
        select(Requirement.clause)
        .join(Framework, col(Framework.id) == Requirement.framework_id)
        .where(Framework.code == FRAMEWORK_CODE, col(Requirement.key).in_(keys))
        .order_by(col(Requirement.position))
    ).all()
    return "、".join(numbers)


def _operating(
    session: Session, manual: Manual | None, start: date | None, today: date
) -> PreCheckResult:
    if manual is None or start is None:
        return PreCheckResult(
            PreCheck.operating,
            False,
            _(
                "No issued manual found: an approved evidence item titled with 手册 or "
                "“manual”, linked to clause %(clauses)s.",
                clauses=_clause_numbers(session, MANUAL_CLAUSES),
            ),
        )
    passed = start <= today
    summary = (
        _("Three months of operation were completed on %(date)s.", date=start.isoformat())
        if passed
        else _("Three months of operation will be completed on %(date)s.", date=start.isoformat())
    )
    return PreCheckResult(PreCheck.operating, passed, summary, [manual.proof])


def _no_start() -> str:
    return _("There is no issued manual, so the three months of operation have no start.")


def _internal_audit(
    session: Session, start: date | None, today: date, applicable: list[Requirement]
) -> PreCheckResult:
    if start is None:
        return PreCheckResult(PreCheck.internal_audit, False, _no_start())
    audits = session.exec(
        select(Audit)
        .where(
            Audit.kind == AuditKind.internal,
            col(Audit.actual_start) >= start,
            col(Audit.actual_start) <= today,
        )
        .order_by(col(Audit.actual_start))
    ).all()
    audited = set(
        session.exec(
            select(ChecklistItem.requirement_id)
            .distinct()
            .join(Audit, col(Audit.id) == ChecklistItem.audit_id)
            .where(
                Audit.kind == AuditKind.internal,
                col(Audit.actual_start) >= start,
                col(Audit.actual_start) <= today,
                ChecklistItem.result != ChecklistResult.not_audited,
            )
        ).all()
    )
    proofs = [
        Proof(
            f"{a.title} ({a.actual_start.isoformat() if a.actual_start else ''})", f"/audits/{a.id}"
        )
        for a in audits
    ]
    missing = [r for r in applicable if r.id not in audited]
    if audits:  # with no audit at all, the summary says so instead of listing every clause
        proofs += [
            Proof(
                _(
                    "Not audited: %(clause)s %(title)s",
                    clause=r.clause,
                    title=localized(r, "title"),
                ),
                f"/requirements/{r.id}",
                ok=False,
            )
            for r in missing
        ]
    if not audits:
        summary = _("No internal audit started on or after %(date)s.", date=start.isoformat())
    elif missing:
        summary = _(
            "Internal audits since %(date)s leave %(count)d applicable clauses unaudited.",
            date=start.isoformat(),
            count=len(missing),
        )
    else:
        summary = _(
            "Internal audits since %(date)s cover all %(count)d applicable clauses.",
            date=start.isoformat(),
            count=len(applicable),
        )
    return PreCheckResult(PreCheck.internal_audit, bool(audits) and not missing, summary, proofs)


def _management_review(session: Session, start: date | None, today: date) -> PreCheckResult:
    if start is None:
        return PreCheckResult(PreCheck.management_review, False, _no_start())
    reviews = session.exec(
        select(ManagementReview)
        .where(
            col(ManagementReview.status).in_((ReviewStatus.held, ReviewStatus.signed)),
            col(ManagementReview.held_on) >= start,
            col(ManagementReview.held_on) <= today,
        )
        .order_by(col(ManagementReview.held_on))
    ).all()
    proofs = [
        Proof(f"{r.title} ({r.held_on.isoformat() if r.held_on else ''})", f"/reviews/{r.id}")
        for r in reviews
    ]
    summary = (
        _(
            "%(count)d management reviews held since %(date)s.",
            count=len(reviews),
            date=start.isoformat(),
        )
        if reviews
        else _("No management review held on or after %(date)s.", date=start.isoformat())
    )
    return PreCheckResult(PreCheck.management_review, bool(reviews), summary, proofs)


def _no_major_nc(session: Session) -> PreCheckResult:
    rows = session.exec(
        select(Nonconformity.id, Nonconformity.title)
        .where(
            Nonconformity.grade == NcGrade.major,
            col(Nonconformity.status).in_(OPEN_NC_STATUSES),
        )
        .order_by(col(Nonconformity.id))
    ).all()
    proofs = [
        Proof(title, f"/nonconformities/{nc_id}", ok=False) for nc_id, title in rows[:PROOFS_SHOWN]
    ]
    summary = (
        _("%(count)d major nonconformities are still open.", count=len(rows))
        if rows
        else _("No major nonconformity is open.")
    )
    return PreCheckResult(PreCheck.no_major_nc, not rows, summary, proofs)


def _policy(session: Session) -> Proof:
    row = session.exec(
        select(Evidence)
        .join(EvidenceRequirement, col(EvidenceRequirement.evidence_id) == Evidence.id)
        .join(Requirement, col(Requirement.id) == EvidenceRequirement.requirement_id)
        .join(Framework, col(Framework.id) == Requirement.framework_id)
        .where(
            Framework.code == FRAMEWORK_CODE,
            Requirement.key == POLICY_CLAUSE,
            Evidence.status != EvidenceStatus.obsolete,
            has_approved_revision(),
        )
        .order_by(col(Evidence.id))
        .limit(1)
    ).first()
    if row is None:
        return Proof(
            _(
                "Policy: no approved evidence linked to clause %(clause)s.",
                clause=_clause_numbers(session, (POLICY_CLAUSE,)),
            ),
            "/evidence",
            ok=False,
        )
    return Proof(_("Policy: %(title)s", title=row.title), f"/evidence/{row.id}", evidence=row)


def _advantages(session: Session) -> Proof:
    counts = dict(
        session.exec(
            select(Strategy.status, func.count(col(CompetitiveAdvantage.id)))
            .join(Strategy, col(Strategy.id) == CompetitiveAdvantage.strategy_id)
            .where(Strategy.status != StrategyStatus.retired)
            .group_by(col(Strategy.status))
        ).all()
    )
    total = sum(counts.values())
    if not total:
        return Proof(_("Competitive advantages: none recorded."), "/strategy", ok=False)
    if counts.get(StrategyStatus.approved):
        return Proof(
            _("Competitive advantages: %(count)d, in an approved strategy.", count=total),
            "/strategy",
        )
    return Proof(
        _("Competitive advantages: %(count)d, but the strategy is not approved yet.", count=total),
        "/strategy",
    )


def _capabilities(session: Session) -> list[Proof]:
    has_goal = exists().where(col(Goal.capability_id) == Capability.id)
    rows = session.exec(
        select(Capability.id, Capability.title, has_goal)
        .where(col(Capability.archived_at).is_(None))
        .order_by(col(Capability.code))
    ).all()
    if not rows:
        return [
            Proof(_("Capabilities with goals: no capability recorded."), "/capabilities", ok=False)
        ]
    without = [(cid, title) for cid, title, with_goal in rows if not with_goal]
    if not without:
        return [
            Proof(
                _(
                    "Capabilities with goals: all %(count)d capabilities have goals.",
                    count=len(rows),
                ),
                "/capabilities",
            )
        ]
    return [
        Proof(
            _("Capability without goals: %(title)s", title=title), f"/capabilities/{cid}", ok=False
        )
        for cid, title in without
    ]


def _documents(session: Session, manual: Manual | None) -> PreCheckResult:
    manual_proof = (
        Proof(
            _("Manual: %(text)s", text=manual.proof.text),
            manual.proof.url,
            evidence=manual.evidence,
        )
        if manual
        else Proof(_("Manual: none issued."), "/evidence", ok=False)
    )
    proofs = [manual_proof, _policy(session), _advantages(session), *_capabilities(session)]
    missing = sum(not p.ok for p in proofs)
    summary = (
        _("The manual, policy, competitive advantages and capabilities with goals are present.")
        if not missing
        else _("Some mandatory documented information is missing.")
    )
    return PreCheckResult(PreCheck.documents, not missing, summary, proofs)


def checklist(*, session: Session, today: date) -> list[PreCheckResult]:
    """The conditions to meet before applying for assessment, each with what was found.

    The audit and the review must both take place after the three months of operation that
    start with the manual's issue (notice of the assessment committee, 2018-09), so without a
    manual, or with a manual issued too recently, those two cannot pass either.
    """
    manual = find_manual(session=session)
    start = manual.issued_on + relativedelta(months=OPERATING_MONTHS) if manual else None
    catalogue = framework(session=session)
    applicable = (
        [
            r
            for r, status in requirements(session=session, framework_id=catalogue.id)
            if r.chapter_id is not None and not is_excluded(status)
        ]
        if catalogue is not None and catalogue.id is not None
        else []
    )
    return [
        _operating(session, manual, start, today),
        _internal_audit(session, start, today, applicable),
        _management_review(session, start, today),
        _no_major_nc(session),
        _documents(session, manual),
    ]


def for_actor(results: list[PreCheckResult], actor: Actor) -> list[PreCheckResult]:
    """The checklist as this actor may read it: evidence they may not see is named by
    number only (the dossier for the assessment body keeps the titles)."""
    for result in results:
        result.proofs = [
            p
            if p.evidence is None or may_view(actor, p.evidence)
            else Proof(
                _("A restricted document (#%(id)d)", id=p.evidence.id or 0), None, p.ok, None
            )
            for p in result.proofs
        ]
    return results
