"""Readiness: the five clause checks and the pre-application checklist on hand-built fixtures.

Each fixture first makes everything pass, then a test breaks one condition and asserts that
exactly the check it belongs to fails.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlmodel import Session, select

from app.models.audit import AuditKind, ChecklistItem, ChecklistResult
from app.models.evidence import Evidence, EvidenceRevision, EvidenceStatus
from app.models.nonconformity import NcGrade, NcStatus
from app.models.requirement import RequirementStatus
from app.models.review import ReviewStatus
from app.models.strategy import StrategyStatus
from app.services.certification import readiness, readiness_report
from app.services.certification.readiness import Check, PreCheck
from tests.factories import (
    MANUAL_ISSUED,
    NOW,
    TODAY,
    Ready,
    clause,
    exclude_all_but,
    make_capability,
    make_evidence,
    make_internal_audit,
    make_nc,
    status_of,
)


def failing_pre_checks(session: Session) -> set[PreCheck]:
    return {r.check for r in readiness.checklist(session=session, today=TODAY) if not r.passed}


def failing_checks(session: Session, key: str) -> tuple[Check, ...]:
    state = readiness.assess(session=session, today=TODAY)
    return next(c.failing for c in state.clauses if c.requirement.key == key)


class TestChecklist:
    def test_the_ready_fixture_passes_everything(self, session: Session, ready: Ready) -> None:
        results = readiness.checklist(session=session, today=TODAY)
        assert [r.check for r in results] == list(PreCheck)
        assert all(r.passed for r in results), [(r.check, r.summary) for r in results]
        by_check = {r.check: r for r in results}
        assert by_check[PreCheck.operating].proofs[0].url == f"/evidence/{ready.manual.id}"
        assert "2026-01-10" in by_check[PreCheck.operating].proofs[0].text
        assert f"/audits/{ready.audit.id}" in [
            p.url for p in by_check[PreCheck.internal_audit].proofs
        ]
        assert f"/reviews/{ready.review.id}" in [
            p.url for p in by_check[PreCheck.management_review].proofs
        ]

    @pytest.mark.parametrize(
        ("breaks", "expected"),
        [
            # The audit and review must follow the three months, so these fail with it.
            (
                "manual_too_recent",
                {PreCheck.operating, PreCheck.internal_audit, PreCheck.management_review},
            ),
            ("clause_not_audited", {PreCheck.internal_audit}),
            ("audit_too_early", {PreCheck.internal_audit}),
            ("audit_external", {PreCheck.internal_audit}),
            ("review_only_planned", {PreCheck.management_review}),
            ("review_too_early", {PreCheck.management_review}),
            ("open_major_nc", {PreCheck.no_major_nc}),
            ("policy_obsolete", {PreCheck.documents}),
            ("no_advantages", {PreCheck.documents}),
            ("capability_without_goals", {PreCheck.documents}),
        ],
    )
    def test_breaking_one_condition_fails_only_its_check(
        self, session: Session, ready: Ready, breaks: str, expected: set[PreCheck]
    ) -> None:
        BREAKS[breaks](session, ready)
        session.commit()
        assert failing_pre_checks(session) == expected

    def test_a_minor_or_closed_major_nonconformity_does_not_block(
        self, session: Session, ready: Ready
    ) -> None:
        make_nc(session, grade=NcGrade.minor)
        make_nc(
            session, requirement_key="IIMS.LEAD.POLICY", grade=NcGrade.major, status=NcStatus.closed
        )
        assert failing_pre_checks(session) == set()

    def test_missing_clauses_and_open_ncs_are_listed_with_links(
        self, session: Session, ready: Ready
    ) -> None:
        _break_clause_not_audited(session, ready)
        nc = make_nc(session, grade=NcGrade.major)
        results = {r.check: r for r in readiness.checklist(session=session, today=TODAY)}
        audit_clause = clause(session, "IIMS.EVAL.AUDIT")
        missing = [p for p in results[PreCheck.internal_audit].proofs if not p.ok]
        assert [p.url for p in missing] == [f"/requirements/{audit_clause.id}"]
        assert audit_clause.clause in missing[0].text
        assert [p.url for p in results[PreCheck.no_major_nc].proofs] == [
            f"/nonconformities/{nc.id}"
        ]

    def test_advantages_of_a_draft_strategy_pass_but_say_so(
        self, session: Session, ready: Ready
    ) -> None:
        ready.strategy.status = StrategyStatus.draft
        session.add(ready.strategy)
        session.commit()
        documents = readiness.checklist(session=session, today=TODAY)[-1]
        assert documents.passed
        assert any("尚未批准" in p.text for p in documents.proofs)


def _break_manual_too_recent(session: Session, ready: Ready) -> None:
    revision = session.exec(
        select(EvidenceRevision).where(EvidenceRevision.evidence_id == ready.manual.id)
    ).one()
    revision.approved_at = datetime(2026, 10, 1, tzinfo=UTC)
    session.add(revision)


def _break_clause_not_audited(session: Session, ready: Ready) -> None:
    item = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.audit_id == ready.audit.id,
            ChecklistItem.requirement_id == clause(session, "IIMS.EVAL.AUDIT").id,
        )
    ).one()
    item.result = ChecklistResult.not_audited
    session.add(item)


def _break_audit(session: Session, ready: Ready, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(ready.audit, name, value)
    session.add(ready.audit)


def _break_review(session: Session, ready: Ready, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(ready.review, name, value)
    session.add(ready.review)


def _break_no_advantages(session: Session, ready: Ready) -> None:
    session.delete(ready.advantage)


BREAKS: dict[str, Callable[[Session, Ready], object]] = {
    "manual_too_recent": _break_manual_too_recent,
    "clause_not_audited": _break_clause_not_audited,
    "audit_too_early": lambda s, r: _break_audit(s, r, actual_start=date(2026, 4, 9)),
    "audit_external": lambda s, r: _break_audit(s, r, kind=AuditKind.stage1),
    "review_only_planned": lambda s, r: _break_review(
        s, r, status=ReviewStatus.planned, held_on=None
    ),
    "review_too_early": lambda s, r: _break_review(s, r, held_on=date(2026, 4, 9)),
    "open_major_nc": lambda s, r: make_nc(s, grade=NcGrade.major),
    "policy_obsolete": lambda s, r: _obsolete(s, r.policy),
    "no_advantages": _break_no_advantages,
    "capability_without_goals": lambda s, r: make_capability(s),
}


def _obsolete(session: Session, evidence: Evidence) -> None:
    evidence.status = EvidenceStatus.obsolete
    session.add(evidence)


class TestManualRule:
    def test_no_manual_means_no_start(self, session: Session) -> None:
        assert readiness.find_manual(session=session) is None
        failing = failing_pre_checks(session)
        assert {PreCheck.operating, PreCheck.internal_audit, PreCheck.management_review} <= failing

    def test_the_english_word_counts_in_any_case(self, session: Session) -> None:
        make_evidence(session, ("IIMS.SCA.SYSTEM",), title="IIMS Manual")
        manual = readiness.find_manual(session=session)
        assert manual is not None
        assert manual.evidence.title == "IIMS Manual"

    def test_the_issue_date_is_the_first_approval_in_local_time(self, session: Session) -> None:
        evidence = make_evidence(
            session,
            ("IIMS.DOC.GENERAL",),
            title="管理手册",
            approved_at=datetime(2026, 3, 1, 20, 0, tzinfo=UTC),  # 04:00 on 2 March in Beijing
        )
        session.add(
            EvidenceRevision(
                evidence_id=evidence.id or 0,
                number=2,
                uploaded_at=NOW,
                approved_at=datetime(2026, 8, 1, tzinfo=UTC),
            )
        )
        session.commit()
        manual = readiness.find_manual(session=session)
        assert manual is not None
        assert manual.issued_on == date(2026, 3, 2)

    @pytest.mark.parametrize(
        ("keys", "title", "approved_at", "status"),
        [
            (("IIMS.LEAD.POLICY",), "管理手册", MANUAL_ISSUED, EvidenceStatus.approved),
            (("IIMS.DOC.GENERAL",), "程序文件汇编", MANUAL_ISSUED, EvidenceStatus.approved),
            (("IIMS.DOC.GENERAL",), "管理手册", None, EvidenceStatus.in_review),
            (("IIMS.DOC.GENERAL",), "管理手册", MANUAL_ISSUED, EvidenceStatus.obsolete),
        ],
    )
    def test_what_is_not_the_manual(
        self,
        session: Session,
        keys: tuple[str, ...],
        title: str,
        approved_at: datetime | None,
        status: EvidenceStatus,
    ) -> None:
        make_evidence(session, keys, title=title, approved_at=approved_at, status=status)
        assert readiness.find_manual(session=session) is None

    def test_of_two_manuals_the_earliest_issued_counts(self, session: Session) -> None:
        make_evidence(
            session,
            ("IIMS.DOC.GENERAL",),
            title="管理手册（第2版）",
            approved_at=datetime(2026, 6, 1, tzinfo=UTC),
        )
        first = make_evidence(
            session, ("IIMS.SCA.SYSTEM", "IIMS.DOC.GENERAL"), title="管理手册（第1版）"
        )
        manual = readiness.find_manual(session=session)
        assert manual is not None
        assert manual.evidence_id == first.id


class TestClauseChecks:
    def test_a_clause_with_everything_is_ready(self, session: Session, ready: Ready) -> None:
        state = readiness.assess(session=session, today=TODAY)
        assert state.overall.total == 38
        assert state.overall.ready == 38
        assert state.overall.excluded == 36
        assert state.overall.percent == 100
        assert state.gaps() == []

    @pytest.mark.parametrize(
        ("breaks", "expected"),
        [
            ("excluded_without_reason", Check.decided),
            ("no_owner", Check.owner),
            ("evidence_expired", Check.evidence),
            ("evidence_not_approved", Check.evidence),
            ("audited_13_months_ago", Check.audit),
            ("audited_externally", Check.audit),
            ("checklist_not_audited", Check.audit),
            ("open_major_nc", Check.major_nc),
        ],
    )
    def test_breaking_one_condition_fails_only_its_check(
        self, session: Session, ready: Ready, breaks: str, expected: Check
    ) -> None:
        CLAUSE_BREAKS[breaks](session)
        session.commit()
        assert failing_checks(session, "IIMS.EVAL.AUDIT") == (expected,)
        assert failing_checks(session, "IIMS.LEAD.POLICY") == ()

    def test_an_excluded_clause_is_ready_and_skips_the_rest(self, session: Session) -> None:
        exclude_all_but(session, ())
        state = readiness.assess(session=session, today=TODAY)
        assert all(c.ready and c.excluded for c in state.clauses)

    def test_a_fresh_catalogue_fails_owner_evidence_and_audit_everywhere(
        self, session: Session
    ) -> None:
        state = readiness.assess(session=session, today=TODAY)
        assert state.overall.ready == 0
        assert state.overall.failing == {
            Check.decided: 0,
            Check.owner: 38,
            Check.evidence: 38,
            Check.audit: 38,
            Check.major_nc: 0,
        }

    def test_chapters_roll_up_their_clauses(self, session: Session, ready: Ready) -> None:
        status = status_of(session, "IIMS.LEAD.POLICY")
        status.owner_id = None
        session.add(status)
        session.commit()
        state = readiness.assess(session=session, today=TODAY)
        chapters = {c.chapter.key: c.rollup for c in state.chapters}
        assert list(chapters) == [
            "IIMS.SCA",
            "IIMS.LEAD",
            "IIMS.PLAN",
            "IIMS.SUP",
            "IIMS.OPS",
            "IIMS.EVAL",
            "IIMS.IMP",
        ]
        lead = chapters["IIMS.LEAD"]
        assert (lead.total, lead.ready, lead.percent, lead.passing(Check.owner)) == (5, 4, 80, 4)
        assert chapters["IIMS.EVAL"].percent == 100
        assert (state.overall.ready, state.overall.percent) == (37, 97)

    def test_gaps_link_to_where_they_are_fixed(self, session: Session, ready: Ready) -> None:
        audit_clause = clause(session, "IIMS.EVAL.AUDIT")
        status = status_of(session, "IIMS.EVAL.AUDIT")
        status.owner_id = None
        status.applicable = False  # excluded, but no reason given
        session.add(status)
        _expire_evidence(session)
        _not_audited(session)
        first = make_nc(session, requirement_key="IIMS.EVAL.AUDIT", grade=NcGrade.major)
        second = make_nc(
            session,
            requirement_key="IIMS.EVAL.AUDIT",
            grade=NcGrade.major,
            status=NcStatus.verification,
        )
        state = readiness.assess(session=session, today=TODAY)
        rid = audit_clause.id
        assert [(g.check, g.url) for g in state.gaps()] == [
            (Check.decided, f"/requirements/{rid}"),
            (Check.owner, f"/requirements/{rid}"),
            (Check.evidence, f"/evidence?requirement={rid}"),
            (Check.audit, "/audits"),
            (Check.major_nc, f"/nonconformities/{first.id}"),
            (Check.major_nc, f"/nonconformities/{second.id}"),
        ]
        assert [g.check for g in state.gaps(Check.owner)] == [Check.owner]

    def test_the_number_of_queries_does_not_grow_with_the_clauses(
        self, session: Session, ready: Ready
    ) -> None:
        with count_queries(session) as few:
            readiness.assess(session=session, today=TODAY)
        session.execute(update(RequirementStatus).values(applicable=True, exclusion_reason=""))
        make_nc(session, requirement_key="IIMS.SCA.GENERAL", grade=NcGrade.major)
        make_nc(session, requirement_key="IIMS.IMP.NC", grade=NcGrade.major)
        with count_queries(session) as many:
            state = readiness.assess(session=session, today=TODAY)
        assert state.overall.excluded == 0
        assert len(many) == len(few) <= 6


class count_queries:  # noqa: N801 - reads like a function at the call site
    def __init__(self, session: Session) -> None:
        self.engine = session.get_bind()
        self.statements: list[str] = []

    def _record(self, *args: Any) -> None:
        self.statements.append(str(args[2]))

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.statements

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def _expire_evidence(session: Session) -> None:
    evidence = session.exec(select(Evidence).where(Evidence.title == "内部审核程序")).one()
    evidence.next_review_date = date(2026, 11, 24)
    session.add(evidence)


def _unapprove_evidence(session: Session) -> None:
    evidence = session.exec(select(Evidence).where(Evidence.title == "内部审核程序")).one()
    revision = session.exec(
        select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence.id)
    ).one()
    revision.approved_at = None
    session.add(revision)


def _not_audited(session: Session) -> None:
    item = session.exec(
        select(ChecklistItem).where(
            ChecklistItem.requirement_id == clause(session, "IIMS.EVAL.AUDIT").id
        )
    ).one()
    item.result = ChecklistResult.not_audited
    session.add(item)


def _audited_only_in(session: Session, started: date, kind: AuditKind) -> None:
    """The clause's result comes from another audit; the other clause keeps its own."""
    _not_audited(session)
    make_internal_audit(
        session, {"IIMS.EVAL.AUDIT": ChecklistResult.minor_nc}, started=started, kind=kind
    )


def _set_status(session: Session, **changes: Any) -> None:
    status = status_of(session, "IIMS.EVAL.AUDIT")
    for name, value in changes.items():
        setattr(status, name, value)
    session.add(status)


CLAUSE_BREAKS: dict[str, Callable[[Session], Any]] = {
    "excluded_without_reason": lambda s: _set_status(s, applicable=False, exclusion_reason=" "),
    "no_owner": lambda s: _set_status(s, owner_id=None),
    "evidence_expired": _expire_evidence,
    "evidence_not_approved": _unapprove_evidence,
    "audited_13_months_ago": lambda s: _audited_only_in(s, date(2025, 10, 24), AuditKind.internal),
    "audited_externally": lambda s: _audited_only_in(s, date(2026, 9, 1), AuditKind.surveillance),
    "checklist_not_audited": _not_audited,
    "open_major_nc": lambda s: make_nc(s, requirement_key="IIMS.EVAL.AUDIT", grade=NcGrade.major),
}


class TestReport:
    def test_the_outline_carries_checklist_chapters_and_gaps(
        self, session: Session, ready: Ready
    ) -> None:
        _not_audited(session)
        session.commit()
        document = readiness_report.report(session=session, today=TODAY)
        assert document.filename == "readiness-2026-11-25"
        assert document.back_url == "/readiness"
        checklist, chapters, gaps = document.sections
        assert checklist.table is not None
        assert len(checklist.table.rows) == len(PreCheck)
        assert chapters.table is not None
        assert len(chapters.table.rows) == 7
        assert gaps.table is not None
        assert [row[0] for row in gaps.table.rows] == [clause(session, "IIMS.EVAL.AUDIT").clause]
