"""Audits: checklist from scope, independence, status, findings and nonconformities, pins."""

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid
from app.models.activity import ActivityEvent
from app.models.audit import (
    AuditCreate,
    AuditProgrammeCreate,
    AuditStatus,
    ChecklistItem,
    ChecklistResult,
    Finding,
)
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceRequirement,
    EvidenceRevision,
    EvidenceStatus,
)
from app.models.nonconformity import NcGrade, NcSource, Nonconformity
from app.models.user import Role
from app.services.audits import checklist as audit_checklist
from app.services.audits import coverage as audit_coverage
from app.services.audits import service as audit_service
from app.services.evidence import service as evidence_service
from tests.factories import NOW, clauses, make_audit, make_department, make_user


def _items(session: Session, audit_id: int) -> list[ChecklistItem]:
    return list(session.exec(select(ChecklistItem).where(ChecklistItem.audit_id == audit_id)))


def test_the_checklist_has_one_item_per_clause_and_department(session: Session) -> None:
    departments = [make_department(session).id or 0 for _ in range(2)]
    audit = make_audit(session, requirements=clauses(session, 3), department_ids=departments)
    assert len(_items(session, audit.id or 0)) == 6

    # While planned, narrowing the scope takes the items away and widening adds them.
    audit_service.update(
        session=session,
        now=NOW,
        actor_id=None,
        audit=audit,
        data=AuditCreate.model_validate(audit.model_dump()),
        scope=audit_service.Scope([], [r.id or 0 for r in clauses(session, 4)], departments[:1]),
    )
    items = _items(session, audit.id or 0)
    assert len(items) == 4
    assert {i.department_id for i in items} == {departments[0]}


def test_scope_and_team_are_fixed_once_the_audit_starts(session: Session) -> None:
    audit = make_audit(session, start=True)
    with pytest.raises(Conflict):
        audit_service.update(
            session=session,
            now=NOW,
            actor_id=None,
            audit=audit,
            data=AuditCreate.model_validate(audit.model_dump()),
            scope=audit_service.current_scope(session=session, audit=audit),
        )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"planned_end": date(2026, 11, 1)}, "planned_end"),
        ({"lead_role": Role.viewer}, "lead_auditor_id"),
        ({"requirements": []}, "requirement_ids"),
    ],
)
def test_impossible_plans_are_refused_by_field(
    session: Session, overrides: dict[str, Any], field: str
) -> None:
    lead = make_user(session, roles=[overrides.pop("lead_role", Role.auditor)])
    scope = audit_service.Scope(
        [],
        [] if "requirements" in overrides else [clauses(session, 1)[0].id or 0],
        [make_department(session).id or 0],
    )
    overrides.pop("requirements", None)
    data = AuditCreate.model_validate(
        {
            "title": "审核",
            "lead_auditor_id": lead.id,
            "planned_start": date(2026, 11, 20),
            "planned_end": date(2026, 11, 30),
            **overrides,
        }
    )
    with pytest.raises(Invalid) as caught:
        audit_service.create(session=session, now=NOW, actor_id=None, data=data, scope=scope)
    assert caught.value.field == field


def test_auditing_ones_own_department_needs_an_override_with_a_reason(session: Session) -> None:
    admin = make_user(session, roles=[Role.admin])
    own = make_department(session)
    lead = make_user(session, roles=[Role.auditor], department_id=own.id)
    audit = make_audit(session, lead=lead, department_ids=[own.id or 0])

    (member,) = audit_service.team(session=session, audit=audit)
    assert member.conflict
    with pytest.raises(Conflict, match=lead.name):
        audit_service.advance(
            session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.in_progress
        )
    with pytest.raises(Invalid):
        audit_service.override_independence(
            session=session,
            now=NOW,
            actor_id=admin.id or 0,
            audit=audit,
            user_id=lead.id or 0,
            reason="  ",
        )
    audit_service.override_independence(
        session=session,
        now=NOW,
        actor_id=admin.id or 0,
        audit=audit,
        user_id=lead.id or 0,
        reason="部门仅一名内审员，另由外部专家复核",
    )
    audit_service.advance(
        session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.in_progress
    )
    assert audit.status == AuditStatus.in_progress
    assert audit.actual_start == NOW.date()
    verbs = session.exec(
        select(ActivityEvent.verb).where(
            ActivityEvent.object_type == "audit", ActivityEvent.object_id == str(audit.id)
        )
    ).all()
    assert "override_independence" in verbs


def test_status_moves_one_step_at_a_time_and_closing_needs_a_conclusion(
    session: Session,
) -> None:
    audit = make_audit(session)
    with pytest.raises(Conflict):
        audit_service.advance(
            session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.reporting
        )
    for step in (AuditStatus.in_progress, AuditStatus.reporting):
        audit_service.advance(session=session, now=NOW, actor_id=None, audit=audit, to=step)
    with pytest.raises(Conflict):
        audit_service.advance(
            session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.closed
        )
    audit_service.set_summary(
        session=session, now=NOW, actor_id=None, audit=audit, summary="体系运行有效。"
    )
    audit_service.advance(
        session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.closed
    )
    assert audit.status == AuditStatus.closed


def _first_item(session: Session, audit_id: int) -> ChecklistItem:
    return sorted(_items(session, audit_id), key=lambda i: i.position)[0]


def test_a_minor_nonconformity_opens_a_record_owned_by_the_department_head(
    session: Session,
) -> None:
    head = make_user(session, roles=[Role.owner])
    department = make_department(session, head_id=head.id)
    auditor = make_user(session, roles=[Role.auditor])
    audit = make_audit(session, lead=auditor, department_ids=[department.id or 0], start=True)
    item = _first_item(session, audit.id or 0)

    with pytest.raises(Invalid) as caught:
        audit_checklist.record(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            audit=audit,
            item=item,
            result=ChecklistResult.minor_nc,
            notes="",
            revision_ids=[],
        )
    assert caught.value.field == "notes"

    audit_checklist.record(
        session=session,
        now=NOW,
        actor_id=auditor.id or 0,
        audit=audit,
        item=item,
        result=ChecklistResult.minor_nc,
        notes="未按期开展数据备份检查",
        revision_ids=[],
    )
    finding = session.exec(select(Finding).where(Finding.checklist_item_id == item.id)).one()
    nonconformity = session.get(Nonconformity, finding.nonconformity_id)
    assert nonconformity is not None
    assert nonconformity.grade == NcGrade.minor
    assert nonconformity.source == NcSource.internal_audit
    assert nonconformity.owner_id == head.id
    assert nonconformity.audit_id == audit.id
    assert nonconformity.due_date is not None

    # Once raised, the grade is settled on the nonconformity, not on the checklist.
    with pytest.raises(Conflict):
        audit_checklist.record(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            audit=audit,
            item=item,
            result=ChecklistResult.conforming,
            notes="",
            revision_ids=[],
        )


def test_an_observation_withdrawn_removes_its_finding(session: Session) -> None:
    auditor = make_user(session, roles=[Role.auditor])
    audit = make_audit(session, lead=auditor, start=True)
    item = _first_item(session, audit.id or 0)
    for result, notes in (
        (ChecklistResult.observation, "记录格式不统一"),
        (ChecklistResult.conforming, ""),
    ):
        audit_checklist.record(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            audit=audit,
            item=item,
            result=result,
            notes=notes,
            revision_ids=[],
        )
    assert session.exec(select(Finding).where(Finding.audit_id == audit.id)).all() == []
    assert session.exec(select(Nonconformity).where(Nonconformity.audit_id == audit.id)).all() == []


def test_results_wait_for_the_audit_to_start(session: Session) -> None:
    auditor = make_user(session, roles=[Role.auditor])
    audit = make_audit(session, lead=auditor)
    with pytest.raises(Conflict):
        audit_checklist.record(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            audit=audit,
            item=_first_item(session, audit.id or 0),
            result=ChecklistResult.conforming,
            notes="",
            revision_ids=[],
        )


def test_the_pinned_revision_stays_what_the_auditor_saw(session: Session) -> None:
    auditor = make_user(session, roles=[Role.auditor])
    requirement = clauses(session, 1)[0]
    evidence = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="信息安全管理程序")
    )
    session.add(
        EvidenceRequirement(evidence_id=evidence.id or 0, requirement_id=requirement.id or 0)
    )
    first = EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW)
    session.add(first)
    session.commit()
    audit = make_audit(session, lead=auditor, requirements=[requirement], start=True)
    item = _first_item(session, audit.id or 0)
    (offered,) = audit_checklist.offered(session=session, audit=audit).choices[requirement.id or 0]
    assert offered.revision.id == first.id

    audit_checklist.record(
        session=session,
        now=NOW,
        actor_id=auditor.id or 0,
        audit=audit,
        item=item,
        result=ChecklistResult.conforming,
        notes="",
        revision_ids=[first.id or 0],
    )
    session.add(EvidenceRevision(evidence_id=evidence.id or 0, number=2, uploaded_at=NOW))
    session.commit()

    (row,) = audit_checklist.rows(session=session, audit=audit, item_ids=[item.id or 0])
    assert [s.revision.number for s in row.seen] == [1]
    (offered,) = audit_checklist.offered(session=session, audit=audit).choices[requirement.id or 0]
    assert offered.revision.number == 2


def test_programme_coverage_counts_audited_planned_and_uncovered(session: Session) -> None:
    auditor = make_user(session, roles=[Role.auditor])
    programme = audit_service.create_programme(
        session=session,
        now=NOW,
        actor_id=None,
        data=AuditProgrammeCreate(title="2026年度内审方案", year=2026),
    )
    session.flush()
    first, second, third = clauses(session, 3)
    sales, plant = make_department(session), make_department(session)
    started = make_audit(
        session,
        lead=auditor,
        requirements=[first, second],
        department_ids=[sales.id or 0],
        programme_id=programme.id,
        start=True,
    )
    make_audit(
        session,
        lead=auditor,
        requirements=[second, third],
        department_ids=[plant.id or 0],
        programme_id=programme.id,
    )
    item = next(i for i in _items(session, started.id or 0) if i.requirement_id == first.id)
    audit_checklist.record(
        session=session,
        now=NOW,
        actor_id=auditor.id or 0,
        audit=started,
        item=item,
        result=ChecklistResult.conforming,
        notes="",
        revision_ids=[],
    )

    coverage = audit_coverage.for_programme(session=session, programme=programme)
    by_clause = {row.requirement.id: row for row in coverage.rows}
    assert by_clause[first.id].cells == {sales.id: audit_coverage.Cell.audited}
    assert by_clause[second.id].cells == {
        sales.id: audit_coverage.Cell.planned,
        plant.id: audit_coverage.Cell.planned,
    }
    assert coverage.count(audit_coverage.Cell.audited) == 1
    assert coverage.count(audit_coverage.Cell.planned) == 2
    assert coverage.count(None) == len(coverage.rows) - 3
    assert [d.id for d in coverage.departments] == sorted(
        [sales.id, plant.id], key=lambda i: {sales.id: sales.name, plant.id: plant.name}[i]
    )


def test_the_lead_auditor_is_reminded_of_a_planned_audit_until_it_starts(
    session: Session,
) -> None:
    from app.models.notification import DueKind
    from app.services.reminders.due_items import SOURCES, SUBJECTS

    lead = make_user(session, roles=[Role.auditor])
    audit = make_audit(session, lead=lead)
    window = (date(2026, 11, 1), date(2026, 11, 30))
    (due,) = [
        i for i in SOURCES[DueKind.audit](session, *window, lead.id) if i.subject_id == audit.id
    ]
    assert (due.due_date, due.owner_id, due.link) == (
        audit.planned_start,
        lead.id,
        f"/audits/{audit.id}",
    )
    assert SUBJECTS[due.subject_type] is type(audit)
    other = make_user(session, roles=[Role.auditor])
    assert list(SOURCES[DueKind.audit](session, *window, other.id)) == []

    audit_service.advance(
        session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.in_progress
    )
    assert [
        i for i in SOURCES[DueKind.audit](session, *window, None) if i.subject_id == audit.id
    ] == []


def test_a_clause_offers_its_ten_newest_evidence_items_and_tells_there_are_more(
    session: Session,
) -> None:
    requirement = clauses(session, 1)[0]
    for n in range(12):
        evidence = evidence_service.create(
            session=session, now=NOW, actor_id=None, data=EvidenceCreate(title=f"记录{n:02d}")
        )
        evidence.updated_at = NOW.replace(day=1 + n)
        session.add_all(
            [
                evidence,
                EvidenceRequirement(
                    evidence_id=evidence.id or 0, requirement_id=requirement.id or 0
                ),
                EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW),
                EvidenceRevision(evidence_id=evidence.id or 0, number=2, uploaded_at=NOW),
            ]
        )
    session.commit()
    audit = make_audit(session, requirements=[requirement])
    offered = audit_checklist.offered(session=session, audit=audit).choices[requirement.id or 0]
    assert len(offered) == audit_checklist.CHOICES_PER_CLAUSE
    assert {s.evidence.title for s in offered} == {f"记录{n:02d}" for n in range(2, 12)}
    assert {s.revision.number for s in offered} == {2}
    assert requirement.id in audit_checklist.offered(session=session, audit=audit).more
    # Down to ten live items: all are offered and there is nothing more to see.
    for evidence in session.exec(
        select(Evidence).where(col(Evidence.title).in_(["记录00", "记录01"]))
    ):
        evidence.status = EvidenceStatus.obsolete
        session.add(evidence)
    session.commit()
    ten = audit_checklist.offered(session=session, audit=audit)
    assert len(ten.choices[requirement.id or 0]) == audit_checklist.CHOICES_PER_CLAUSE
    assert ten.more == set()
    # An item still waiting for its first file has nothing to tick: it is neither offered
    # nor a reason to point to the register, and it does not push a tickable one out.
    draft = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="待上传")
    )
    draft.updated_at = NOW.replace(day=28)
    session.add_all(
        [draft, EvidenceRequirement(evidence_id=draft.id or 0, requirement_id=requirement.id or 0)]
    )
    session.commit()
    with_draft = audit_checklist.offered(session=session, audit=audit)
    assert "待上传" not in {s.evidence.title for s in with_draft.choices[requirement.id or 0]}
    assert len(with_draft.choices[requirement.id or 0]) == audit_checklist.CHOICES_PER_CLAUSE
    assert with_draft.more == set()
