"""The certification record, its status, grades, milestone plan, date order and reminders."""

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from app.errors import Conflict, Invalid
from app.models.activity import ActivityEvent
from app.models.certification import (
    Certification,
    CertificationCreate,
    CertificationStatus,
    Milestone,
    MilestoneRule,
)
from app.models.evidence import EvidenceCreate
from app.models.notification import Channel, DueKind, Notification
from app.models.user import Role
from app.services.certification import plan, service
from app.services.certification.service import MilestoneUpdate
from app.services.evidence import service as evidence_service
from app.services.reminders import service as reminders
from app.services.reminders.due_items import SOURCES, SUBJECTS
from app.settings import Settings
from tests.factories import NOW, TODAY, make_certification, make_user


def rows(session: Session, certification: Certification) -> dict[str, Milestone]:
    assert certification.id is not None
    return {
        plan.key(m): m
        for m in service.milestones(session=session, certification_id=certification.id)
    }


def events(session: Session, object_type: str) -> int:
    return session.exec(select(func.count()).where(ActivityEvent.object_type == object_type)).one()


def planned(session: Session, certification: Certification, application: date) -> None:
    assert certification.id is not None
    plan.generate(
        session=session,
        now=NOW,
        actor_id=None,
        certification=certification,
        milestones=service.milestones(session=session, certification_id=certification.id),
        application_on=application,
    )
    session.commit()


class TestRecord:
    def test_a_new_record_has_every_milestone_undated(self, session: Session) -> None:
        certification = make_certification(session)
        found = rows(session, certification)
        assert list(found) == [
            "application",
            "acceptance",
            "stage1",
            "stage2",
            "nc_correction",
            "conclusion",
            "compliance_review",
            "public_notice",
            "certificate",
            "surveillance-1",
            "surveillance-2",
            "reassessment",
        ]
        assert all(m.planned_on is None and m.done_on is None for m in found.values())
        assert service.current(session=session) == certification

    def test_a_second_cycle_waits_until_the_first_is_no_longer_open(self, session: Session) -> None:
        first = make_certification(session)
        with pytest.raises(Conflict):
            make_certification(session)
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=first,
            status=CertificationStatus.withdrawn,
        )
        second = make_certification(session, body="另一机构")
        assert service.current(session=session) == second
        assert [c.id for c in service.history(session=session)][:2] == [second.id, first.id]

    def test_expiry_must_follow_issue_and_grades_come_from_the_list(self, session: Session) -> None:
        with pytest.raises(Invalid) as caught:
            make_certification(session, issued_on=date(2026, 1, 1), expires_on=date(2026, 1, 1))
        assert caught.value.field == "expires_on"
        with pytest.raises(Invalid) as caught:
            make_certification(session, grade_sought="AAAAAAA")
        assert caught.value.field == "grade_sought"
        assert session.exec(select(func.count()).select_from(Certification)).one() == 0

    def test_dates_outside_the_range_are_refused(self, session: Session) -> None:
        for overrides, field in (
            ({"issued_on": date(9998, 6, 1)}, "issued_on"),
            ({"issued_on": date(1999, 12, 31)}, "issued_on"),
            ({"issued_on": date(2026, 1, 1), "expires_on": date(2201, 1, 1)}, "expires_on"),
        ):
            with pytest.raises(Invalid) as caught:
                make_certification(session, **overrides)
            assert caught.value.field == field
            assert "2000-01-01" in caught.value.message
        assert session.exec(select(func.count()).select_from(Certification)).one() == 0
        first = make_certification(session, issued_on=plan.DATE_MIN, expires_on=plan.DATE_MAX)
        assert first.expires_on == date(2200, 12, 31)

    def test_a_stored_date_out_of_range_can_still_be_edited(self, session: Session) -> None:
        certification = make_certification(session)
        certification.issued_on = date(9998, 6, 1)  # saved before the range was checked
        data = CertificationCreate(body="新机构", grade_sought="AA", issued_on=date(9998, 6, 1))
        service.update(
            session=session, now=NOW, actor_id=None, certification=certification, data=data
        )
        assert certification.body == "新机构"
        data = CertificationCreate(body="新机构", issued_on=date(9999, 1, 1))
        with pytest.raises(Invalid) as caught:
            service.update(
                session=session, now=NOW, actor_id=None, certification=certification, data=data
            )
        assert caught.value.field == "issued_on"


class TestStatus:
    def test_certifying_needs_the_certificate_and_fills_the_expiry(self, session: Session) -> None:
        certification = make_certification(session)
        with pytest.raises(Conflict):
            service.set_status(
                session=session,
                now=NOW,
                actor_id=None,
                certification=certification,
                status=CertificationStatus.certified,
            )
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=certification,
            status=CertificationStatus.assessing,
        )
        with pytest.raises(Invalid):
            service.set_status(
                session=session,
                now=NOW,
                actor_id=None,
                certification=certification,
                status=CertificationStatus.certified,
            )
        certification.grade_awarded = "AA"
        certification.certificate_number = "AIITRE-00126IIIMS0001"
        certification.issued_on = date(2026, 9, 1)
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=certification,
            status=CertificationStatus.certified,
        )
        assert certification.expires_on == date(2029, 9, 1)
        assert events(session, "certification") == 3  # created, assessing, certified

    def test_a_far_future_issue_date_is_refused_not_a_crash(self, session: Session) -> None:
        certification = make_certification(session)
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=certification,
            status=CertificationStatus.assessing,
        )
        # Stored before the range was checked: issue + 3 years would be the year 10001.
        certification.grade_awarded = "AA"
        certification.certificate_number = "AIITRE-00126IIIMS0001"
        certification.issued_on = date(9998, 6, 1)
        with pytest.raises(Invalid) as caught:
            service.set_status(
                session=session,
                now=NOW,
                actor_id=None,
                certification=certification,
                status=CertificationStatus.certified,
            )
        assert caught.value.field == "status"
        assert (certification.status, certification.expires_on) == ("assessing", None)

    def test_final_statuses_go_nowhere(self, session: Session) -> None:
        certification = make_certification(session)
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=certification,
            status=CertificationStatus.withdrawn,
        )
        assert service.next_statuses(certification) == ()


class TestGrades:
    def test_add_reorder_and_remove(self, session: Session) -> None:
        service.add_grade(session=session, now=NOW, actor_id=None, code="AAAA")
        assert service.grades(session=session) == ["A", "AA", "AAA", "AAAA"]
        with pytest.raises(Conflict):
            service.add_grade(session=session, now=NOW, actor_id=None, code="AAAA")
        with pytest.raises(Invalid):
            service.add_grade(session=session, now=NOW, actor_id=None, code="A A")
        service.move_grade(session=session, now=NOW, actor_id=None, code="AAAA", up=True)
        assert service.grades(session=session) == ["A", "AA", "AAAA", "AAA"]
        service.remove_grade(session=session, now=NOW, actor_id=None, code="AAAA")
        assert service.grades(session=session) == ["A", "AA", "AAA"]
        assert events(session, "certification_grade") == 3

    def test_a_grade_in_use_stays(self, session: Session) -> None:
        make_certification(session, grade_sought="AAA")
        with pytest.raises(Conflict) as caught:
            service.remove_grade(session=session, now=NOW, actor_id=None, code="AAA")
        assert caught.value.status_code == 409
        assert "AAA" in service.grades(session=session)


class TestGeneratePlan:
    def test_defaults_from_the_application_date(self, session: Session) -> None:
        certification = make_certification(session)
        planned(session, certification, date(2027, 1, 4))
        found = {k: m.planned_on for k, m in rows(session, certification).items()}
        assert found["application"] == date(2027, 1, 4)
        assert found["acceptance"] == date(2027, 1, 18)  # +14
        assert found["stage1"] == date(2027, 2, 17)  # +30
        assert found["stage2"] == date(2027, 4, 3)  # +45
        assert found["nc_correction"] == date(2027, 7, 2)  # +90
        assert found["conclusion"] == date(2027, 7, 16)  # +14
        assert found["compliance_review"] == date(2027, 7, 30)  # +14
        assert found["public_notice"] == date(2027, 8, 9)  # +10
        assert found["certificate"] == date(2027, 8, 23)  # +14
        assert found["surveillance-1"] == date(2028, 8, 23)  # 12 months after issue
        assert found["surveillance-2"] == date(2029, 8, 23)
        assert found["reassessment"] == date(2030, 8, 23) - timedelta(days=90)
        assert events(session, "certification") == 2  # created, plan generated

    def test_dates_set_by_hand_are_kept(self, session: Session) -> None:
        certification = make_certification(
            session, issued_on=date(2027, 6, 1), expires_on=date(2030, 5, 31)
        )
        stage2 = rows(session, certification)["stage2"]
        stage2.planned_on = date(2027, 5, 10)
        session.add(stage2)
        session.commit()
        planned(session, certification, date(2027, 1, 4))
        found = {k: m.planned_on for k, m in rows(session, certification).items()}
        assert found["stage2"] == date(2027, 5, 10)
        assert found["nc_correction"] == date(2027, 8, 8)  # counted from the kept date
        assert found["surveillance-1"] == date(2028, 6, 1)  # from the real issue date
        assert found["reassessment"] == date(2030, 5, 31) - timedelta(days=90)
        # A second run changes nothing: every date is set.
        again = plan.generate(
            session=session,
            now=NOW,
            actor_id=None,
            certification=certification,
            milestones=list(rows(session, certification).values()),
            application_on=date(2028, 1, 1),
        )
        assert again == 0
        assert rows(session, certification)["application"].planned_on == date(2027, 1, 4)

    def test_rules_override_the_defaults(self, session: Session) -> None:
        errors = plan.save_rules(
            session=session,
            now=NOW,
            actor_id=None,
            submitted={"days-acceptance": "7", "days-surveillance": "300"},
        )
        assert errors == {}
        certification = make_certification(session)
        planned(session, certification, date(2027, 1, 4))
        found = rows(session, certification)
        assert found["acceptance"].planned_on == date(2027, 1, 11)
        certificate = found["certificate"].planned_on
        assert certificate is not None
        assert found["surveillance-2"].planned_on == certificate + timedelta(days=600)
        assert events(session, "milestone_rule") == 1

    def test_bad_rules_change_nothing(self, session: Session) -> None:
        errors = plan.save_rules(
            session=session,
            now=NOW,
            actor_id=None,
            submitted={
                "days-acceptance": "0",
                "days-surveillance": "400",
                "days-stage1": "20",
                "days-stage2": "9" * 5000,  # beyond int()'s 4300 digits
                "days-conclusion": "000014",
            },
        )
        assert set(errors) == {
            "days-acceptance",
            "days-surveillance",
            "days-stage2",
            "days-conclusion",
        }
        assert session.exec(select(MilestoneRule)).all() == []

    def test_without_an_application_date_nothing_is_planned(self, session: Session) -> None:
        certification = make_certification(session)
        with pytest.raises(Invalid) as caught:
            plan.generate(
                session=session,
                now=NOW,
                actor_id=None,
                certification=certification,
                milestones=list(rows(session, certification).values()),
                application_on=None,
            )
        assert caught.value.field == "application_on"

    def test_dates_out_of_range_are_refused_not_a_crash(self, session: Session) -> None:
        certification = make_certification(session)
        with pytest.raises(Invalid) as caught:
            planned(session, certification, date(9999, 12, 25))
        assert caught.value.field == "application_on"
        assert all(m.planned_on is None for m in rows(session, certification).values())
        # A date stored before the range was checked: issue + 3 years would be the year 10001.
        certification.issued_on = date(9998, 6, 1)
        with pytest.raises(Invalid) as caught:
            planned(session, certification, date(2027, 1, 4))
        assert caught.value.field == "application_on"


class TestMilestoneUpdate:
    def _update(self, session: Session, milestone: Milestone, **values: Any) -> Milestone:
        return service.update_milestone(
            session=session,
            now=NOW,
            actor_id=None,
            milestone=milestone,
            data=MilestoneUpdate(**values),
            today=TODAY,
        )

    def test_dates_owner_and_evidence(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.admin])
        evidence = evidence_service.create(
            session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="评定申请书")
        )
        certification = make_certification(session)
        application = rows(session, certification)["application"]
        self._update(
            session,
            application,
            planned_on=TODAY,
            done_on=TODAY,
            owner_id=owner.id,
            evidence_id=evidence.id,
            notes="已提交",
        )
        assert (application.done_on, application.owner_id) == (TODAY, owner.id)
        assert events(session, "certification_milestone") == 1

    def test_impossible_dates_are_refused_and_change_nothing(self, session: Session) -> None:
        certification = make_certification(session)
        planned(session, certification, date(2027, 1, 4))
        found = rows(session, certification)
        for milestone, values, field in (
            (found["stage1"], {"planned_on": date(2027, 1, 1)}, "planned_on"),  # before application
            (found["stage1"], {"planned_on": date(2027, 12, 1)}, "planned_on"),  # after stage 2
            (found["application"], {"done_on": TODAY + timedelta(days=1)}, "done_on"),
            (found["application"], {"evidence_id": 2_000_000}, "evidence_id"),
            (found["reassessment"], {"planned_on": date(2201, 1, 1)}, "planned_on"),
            (found["application"], {"done_on": date(1999, 12, 31)}, "done_on"),
        ):
            before = milestone.model_dump()
            values = {**before, **values}
            values.pop("id"), values.pop("certification_id"), values.pop("kind")
            values.pop("sequence")
            with pytest.raises(Invalid) as caught:
                self._update(session, milestone, **values)
            assert caught.value.field == field
            assert milestone.model_dump() == before

    def test_done_dates_follow_the_timeline(self, session: Session) -> None:
        certification = make_certification(session)
        found = rows(session, certification)
        self._update(session, found["application"], done_on=TODAY - timedelta(days=10))
        # The acceptance may not be done before the application was.
        with pytest.raises(Invalid) as caught:
            self._update(session, found["acceptance"], done_on=TODAY - timedelta(days=20))
        assert "申请" in caught.value.message or "Application" in caught.value.message
        # A step may be skipped: stage 1 done without a recorded acceptance.
        self._update(session, found["stage1"], done_on=TODAY - timedelta(days=1))
        assert found["acceptance"].done_on is None


class TestReminders:
    def test_open_milestones_with_an_owner_are_due_items(self, session: Session) -> None:
        assert SUBJECTS["certification_milestone"] is Milestone
        owner = make_user(session, roles=[Role.admin])
        certification = make_certification(session)
        found = rows(session, certification)
        due = TODAY + timedelta(days=7)
        found["application"].planned_on, found["application"].owner_id = due, owner.id
        found["acceptance"].planned_on = due + timedelta(days=1)  # no owner: nobody to remind
        found["stage1"].planned_on, found["stage1"].owner_id = due, owner.id
        found["stage1"].done_on = TODAY  # already done
        for m in found.values():
            session.add(m)
        session.commit()
        items = list(SOURCES[DueKind.milestone](session, TODAY, TODAY + timedelta(days=30), None))
        assert [(i.subject_id, i.owner_id, i.link) for i in items] == [
            (found["application"].id, owner.id, "/certification")
        ]
        assert items[0].title == "评定申请"
        mine = list(SOURCES[DueKind.milestone](session, TODAY, due, owner.id))
        assert len(mine) == 1

    def test_the_reminder_scan_notifies_once(self, session: Session, settings: Settings) -> None:
        owner = make_user(session, roles=[Role.viewer])
        certification = make_certification(session)
        application = rows(session, certification)["application"]
        application.planned_on = TODAY + timedelta(days=7)
        application.owner_id = owner.id
        session.add(application)
        session.commit()
        for _run in range(2):
            reminders.plan(session=session, now=NOW, settings=settings)
            session.commit()
        found = session.exec(
            select(Notification).where(
                Notification.subject_type == "certification_milestone",
                Notification.subject_id == application.id,
                col(Notification.channel) == Channel.in_app,
            )
        ).all()
        assert len(found) == 1
        assert found[0].recipient_id == owner.id
        assert found[0].kind == DueKind.milestone
        assert found[0].link == "/certification"
