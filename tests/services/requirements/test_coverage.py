"""Coverage roll-up against a hand-counted fixture."""

from datetime import date, timedelta

from sqlmodel import Session, select

from app.models.evidence import Evidence, EvidenceRequirement, EvidenceRevision, EvidenceStatus
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.services.requirements import coverage as coverage_service
from app.services.requirements.coverage import Coverage
from tests.factories import NOW, TODAY


def _evidence(
    session: Session,
    *,
    approved: bool,
    review: date | None = None,
    status: EvidenceStatus = EvidenceStatus.approved,
) -> Evidence:
    evidence = Evidence(
        title="e", status=status, next_review_date=review, created_at=NOW, updated_at=NOW
    )
    session.add(evidence)
    session.flush()
    session.add(
        EvidenceRevision(
            evidence_id=evidence.id or 0,
            number=1,
            uploaded_at=NOW,
            approved_at=NOW if approved else None,
        )
    )
    return evidence


def _link(session: Session, evidence: Evidence, key: str) -> None:
    requirement = session.exec(select(Requirement).where(Requirement.key == key)).one()
    session.add(
        EvidenceRequirement(evidence_id=evidence.id or 0, requirement_id=requirement.id or 0)
    )


def test_chapter_5_counts_by_hand(session: Session) -> None:
    # Chapter 5 (leadership) has five clauses.
    _link(session, _evidence(session, approved=True), "IIMS.LEAD.TOP")  # covered
    _link(
        session, _evidence(session, approved=False, status=EvidenceStatus.draft), "IIMS.LEAD.TOP"
    )  # a draft beside it changes nothing
    _link(
        session,
        _evidence(session, approved=True, review=TODAY - timedelta(days=1)),
        "IIMS.LEAD.POLICY",
    )  # stale: review passed
    _link(
        session, _evidence(session, approved=False, status=EvidenceStatus.in_review), "IIMS.LEAD.MR"
    )  # stale: not approved
    _link(
        session, _evidence(session, approved=True, status=EvidenceStatus.obsolete), "IIMS.LEAD.RESP"
    )  # stale: obsolete
    # IIMS.LEAD.COMM: nothing linked → none; then excluded, so it drops out of the roll-up.
    comm = session.exec(select(Requirement).where(Requirement.key == "IIMS.LEAD.COMM")).one()
    framework = session.get(Framework, comm.framework_id)
    assert framework is not None
    levels = coverage_service.by_requirement(
        session=session, framework_id=framework.id or 0, today=TODAY
    )
    assert levels[comm.id or 0] == Coverage.none
    status = session.exec(
        select(RequirementStatus).where(RequirementStatus.requirement_id == comm.id)
    ).one()
    status.applicable = False
    session.add(status)
    session.flush()
    chapter = coverage_service.by_chapter(
        session=session, framework_id=framework.id or 0, today=TODAY
    )[comm.chapter_id or 0]
    assert (chapter.covered, chapter.stale, chapter.none) == (1, 3, 0)
    review_day = coverage_service.by_chapter(
        session=session, framework_id=framework.id or 0, today=TODAY - timedelta(days=1)
    )
    assert review_day[comm.chapter_id or 0].covered == 2  # yesterday the policy was still current
