"""The management review input package, checked against numbers worked out by hand."""

from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from app.models.audit import Audit, AuditStatus, ChecklistItem, ChecklistResult, Finding
from app.models.evidence import Evidence, EvidenceRequirement, EvidenceRevision, EvidenceStatus
from app.models.nonconformity import NcGrade, NcStatus, Nonconformity
from app.models.requirement import Requirement
from app.models.review import (
    ManagementReview,
    ManagementReviewCreate,
    ReviewAction,
    ReviewActionStatus,
    ReviewStatus,
)
from app.models.self_assessment import DevelopmentStage, SelfAssessment
from app.models.user import Role, User
from app.services.activity import service as activity
from app.services.reviews import inputs as review_inputs
from app.services.reviews import report as review_report
from app.services.reviews import service as review_service
from app.services.strategy import goals as goal_service
from app.services.strategy.goals import Reading
from tests.factories import (
    NOW,
    first_clause,
    make_capability,
    make_department,
    make_goal,
    make_user,
)

TODAY = date(2026, 12, 10)
SINCE = date(2026, 11, 30)  # the previous review was held then
LATER = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def _requirements(session: Session, n: int) -> list[int]:
    ids = session.exec(select(Requirement.id).order_by(col(Requirement.id)).limit(n)).all()
    return [i for i in ids if i is not None]


def _goals(session: Session, owner: User) -> None:
    capability = make_capability(session, owner_id=owner.id)
    make_goal(session, capability.id or 0, indicator="无数据")  # missing data
    for indicator, value in (("已达成", 85.0), ("落后", 41.0)):  # achieved, off track
        goal = make_goal(session, capability.id or 0, indicator=indicator)
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, 11, 1), value),
        )


def _audit(session: Session, lead: User, status: AuditStatus, start: date | None) -> Audit:
    audit = Audit(
        title=f"审核 {status} {start}",
        lead_auditor_id=lead.id or 0,
        planned_start=date(2026, 12, 1),
        planned_end=date(2026, 12, 3),
        status=status,
        actual_start=start,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(audit)
    session.flush()
    return audit


def _audits(session: Session, lead: User) -> None:
    department = make_department(session)
    requirements = _requirements(session, 3)
    held = _audit(session, lead, AuditStatus.closed, date(2026, 12, 2))
    results = [ChecklistResult.conforming, ChecklistResult.conforming, ChecklistResult.minor_nc]
    for requirement_id, result in zip(requirements, results, strict=True):
        session.add(
            ChecklistItem(
                audit_id=held.id or 0,
                requirement_id=requirement_id,
                department_id=department.id or 0,
                result=result,
            )
        )
    for grade in (ChecklistResult.minor_nc, ChecklistResult.observation):
        session.add(Finding(audit_id=held.id or 0, grade=grade, statement="发现", created_at=NOW))
    # Neither of these counts: one is still planned, the other before the previous review.
    _audit(session, lead, AuditStatus.planned, None)
    before = _audit(session, lead, AuditStatus.closed, date(2026, 6, 1))
    session.add(
        Finding(
            audit_id=before.id or 0,
            grade=ChecklistResult.major_nc,
            statement="旧发现",
            created_at=NOW,
        )
    )
    session.commit()


def _nonconformities(session: Session) -> None:
    rows = [
        (NcStatus.open, NcGrade.major, date(2026, 11, 1)),  # open, major, overdue
        (NcStatus.in_progress, NcGrade.minor, date(2027, 1, 31)),  # open, not yet due
        (NcStatus.verification, NcGrade.minor, date(2026, 12, 9)),  # open, overdue
        (NcStatus.closed, NcGrade.major, date(2026, 10, 1)),  # closed: never overdue
    ]
    for status, grade, due in rows:
        session.add(
            Nonconformity(
                title="不符合",
                status=status,
                grade=grade,
                due_date=due,
                raised_on=date(2026, 10, 1),
                created_at=NOW,
                updated_at=NOW,
            )
        )
    session.commit()


def _evidence(session: Session) -> None:
    rows = [
        (EvidenceStatus.approved, date(2027, 6, 1)),  # current
        (EvidenceStatus.approved, date(2026, 12, 1)),  # expired
        (EvidenceStatus.in_review, date(2026, 11, 1)),  # expired too: review date passed
        (EvidenceStatus.draft, None),
        (EvidenceStatus.obsolete, date(2026, 1, 1)),  # obsolete is never expired
    ]
    items = []
    for status, review_on in rows:
        evidence = Evidence(
            title=f"证据 {status}",
            status=status,
            next_review_date=review_on,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(evidence)
        items.append(evidence)
    session.flush()
    current = items[0]
    session.add(
        EvidenceRevision(evidence_id=current.id or 0, number=1, uploaded_at=NOW, approved_at=NOW)
    )
    session.add(
        EvidenceRequirement(
            evidence_id=current.id or 0, requirement_id=first_clause(session).id or 0
        )
    )
    session.commit()


def _previous_review(session: Session, chair: User, owner: User) -> ManagementReview:
    review = ManagementReview(
        title="2025年度管理评审",
        planned_on=SINCE,
        held_on=SINCE,
        chair_id=chair.id or 0,
        status=ReviewStatus.signed,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(review)
    session.flush()
    rows = [
        ("开放且逾期", ReviewActionStatus.open, date(2026, 12, 5), None),
        ("开放未到期", ReviewActionStatus.open, date(2027, 3, 1), None),
        ("已完成待验证", ReviewActionStatus.done, date(2026, 12, 1), None),
        ("本期验证", ReviewActionStatus.verified, date(2026, 12, 1), LATER),
        ("上期验证", ReviewActionStatus.verified, date(2026, 9, 1), NOW.replace(month=10)),
        ("已取消", ReviewActionStatus.cancelled, date(2026, 12, 1), None),
    ]
    for description, status, due, verified_at in rows:
        session.add(
            ReviewAction(
                review_id=review.id or 0,
                description=description,
                owner_id=owner.id or 0,
                due_date=due,
                status=status,
                verified_at=verified_at,
                created_at=NOW,
            )
        )
    session.commit()
    return review


def _changes(session: Session) -> None:
    for object_type, at in (
        ("goal", LATER),
        ("goal", LATER),
        ("evidence", LATER),
        ("evidence", datetime(2026, 11, 29, 23, 0, tzinfo=UTC)),  # before the last review
    ):
        activity.record(
            session=session,
            now=at,
            actor_id=None,
            verb="update",
            object_type=object_type,
            object_id=1,
        )
    session.commit()


def world(session: Session) -> tuple[User, User]:
    chair = make_user(session, roles=[Role.executive], name="总经理")
    owner = make_user(session, roles=[Role.owner], name="张伟")
    _goals(session, owner)
    _audits(session, make_user(session, roles=[Role.auditor]))
    _nonconformities(session)
    _evidence(session)
    _previous_review(session, chair, owner)
    _changes(session)
    return chair, owner


class TestAssemble:
    def test_every_section_has_the_hand_computed_numbers(self, session: Session) -> None:
        world(session)
        package = review_inputs.assemble(session=session, today=TODAY, since=SINCE)

        assert package["version"] == review_inputs.VERSION
        assert set(review_inputs.SECTIONS) <= set(package)
        assert package["since"] == "2026-11-30"

        actions = package["previous_actions"]
        assert (actions["open"], actions["awaiting_verification"]) == (2, 1)
        assert actions["overdue"] == 1
        assert actions["verified_since"] == 1
        assert [row["description"] for row in actions["carried_over"]] == [
            "已完成待验证",
            "开放且逾期",
            "开放未到期",
        ]
        assert actions["carried_over"][0]["owner"] == "张伟"
        assert actions["carried_over"][0]["review"] == "2025年度管理评审"

        assert package["goals"] == {
            "total": 3,
            "by_status": {
                "on_track": 0,
                "at_risk": 0,
                "off_track": 1,
                "achieved": 1,
                "missing_data": 1,
            },
        }

        audits = package["audits"]
        assert audits["audits"] == 1
        assert audits["checklist"] == {
            "not_audited": 0,
            "conforming": 2,
            "major_nc": 0,
            "minor_nc": 1,
            "observation": 0,
        }
        assert audits["findings"] == {"major_nc": 0, "minor_nc": 1, "observation": 1}

        ncs = package["nonconformities"]
        assert ncs["by_status"] == {"open": 1, "in_progress": 1, "verification": 1, "closed": 1}
        assert (ncs["open"], ncs["overdue"], ncs["open_major"]) == (3, 2, 1)

        evidence = package["evidence"]
        assert evidence["by_status"] == {"draft": 1, "in_review": 1, "approved": 2, "obsolete": 1}
        assert evidence["expired"] == 2
        [gbt] = [row for row in evidence["coverage"] if row["framework"] == "GBT23001"]
        assert (gbt["covered"], gbt["stale"]) == (1, 0)
        assert gbt["none"] > 0

        assert package["self_assessment"] == {"recorded": 0, "results": []}
        assert package["changes"] == {"total": 3, "by_object_type": {"evidence": 1, "goal": 2}}

    def test_without_an_earlier_review_everything_counts(self, session: Session) -> None:
        world(session)
        package = review_inputs.assemble(session=session, today=TODAY, since=None)
        assert package["since"] is None
        assert package["audits"]["audits"] == 2
        assert package["audits"]["findings"]["major_nc"] == 1
        assert package["previous_actions"]["verified_since"] == 2
        assert package["changes"]["by_object_type"]["evidence"] >= 2

    def test_an_empty_organization_gives_zeros_not_errors(self, session: Session) -> None:
        package = review_inputs.assemble(session=session, today=TODAY, since=SINCE)
        assert package["goals"]["total"] == 0
        assert package["audits"]["audits"] == 0
        assert package["nonconformities"]["overdue"] == 0
        assert package["previous_actions"]["carried_over"] == []
        assert package["self_assessment"] == {"recorded": 0, "results": []}

    def test_the_newest_self_assessment_is_an_input(self, session: Session) -> None:
        for year, overall in ((2024, 55.2), (2025, 61.8)):
            session.add(
                SelfAssessment(
                    year=year,
                    overall_score=overall,
                    stage=DevelopmentStage.integration,
                    foundation=70.0,
                    benefits=48.5,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        session.commit()
        package = review_inputs.assemble(session=session, today=TODAY, since=SINCE)
        found = package["self_assessment"]
        assert found["recorded"] == 2
        (latest,) = found["results"]
        assert (latest["year"], latest["overall"], latest["stage"]) == (2025, 61.8, "integration")
        assert latest["views"]["benefits"] == 48.5
        (section,) = [
            s for s in review_report.input_sections(package) if s.heading.startswith("6.")
        ]
        assert "61.8" in section.paragraphs[0]
        assert section.table is not None
        assert ["经济和社会效益", "48.5"] in section.table.rows


class TestFrozenPackage:
    def test_later_data_changes_never_alter_the_frozen_package(self, session: Session) -> None:
        chair, _owner = world(session)
        review = review_service.create(
            session=session,
            now=LATER,
            actor_id=None,
            data=ManagementReviewCreate(
                title="2026年度管理评审", planned_on=TODAY, chair_id=chair.id or 0
            ),
        )
        review_service.mark_held(
            session=session, now=LATER, actor_id=None, review=review, held_on=TODAY
        )
        session.commit()
        frozen = review_service.inputs(session=session, review=review, today=TODAY)
        assert frozen["previous_actions"]["open"] == 2
        assert frozen["since"] == "2026-11-30"  # the signed review before it

        # The data moves on: an action is done, a new nonconformity, a goal added.
        action = session.exec(
            select(ReviewAction).where(ReviewAction.description == "开放且逾期")
        ).one()
        review_service.complete_action(session=session, now=LATER, actor_id=None, action=action)
        _nonconformities(session)
        make_goal(session, make_capability(session).id or 0)
        session.commit()

        session.expire_all()
        stored = session.get(ManagementReview, review.id)
        assert stored is not None
        again = review_service.inputs(session=session, review=stored, today=date(2027, 1, 5))
        assert again == frozen
        assert again["previous_actions"]["open"] == 2
        assert again["nonconformities"]["open"] == 3
        assert again["goals"]["total"] == 3
        live = review_service.live_inputs(session=session, review=stored, today=TODAY)
        assert live["previous_actions"]["open"] == 1
        assert live["nonconformities"]["open"] == 6
