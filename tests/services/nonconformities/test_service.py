"""Nonconformity workflow: deadlines, the close gate, independent verification, reminders."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from app.errors import Conflict, Forbidden, Invalid
from app.i18n import use_locale
from app.models.activity import ActivityEvent
from app.models.nonconformity import (
    ActionKind,
    ActionStatus,
    CorrectiveAction,
    NcDeadline,
    NcGrade,
    NcSource,
    NcStatus,
    Nonconformity,
    NonconformityCreate,
    RootCauseMethod,
    Verdict,
)
from app.models.notification import DueKind, Notification
from app.models.user import Role
from app.services.nonconformities import deadline as deadline_service
from app.services.nonconformities import service as nc_service
from app.services.reminders import service as reminders
from app.services.reminders.due_items import SOURCES, SUBJECTS
from app.settings import Settings
from tests.factories import (
    NOW,
    TODAY,
    add_action,
    make_nc,
    make_user,
    ready_for_verification,
)


class TestCreate:
    @pytest.mark.parametrize(
        ("source", "grade", "days"),
        [
            (NcSource.internal_audit, NcGrade.major, 30),
            (NcSource.internal_audit, NcGrade.minor, 60),
            (NcSource.external_audit, NcGrade.minor, 90),
            (NcSource.external_audit, NcGrade.major, 90),
            (NcSource.management_review, NcGrade.minor, 60),
        ],
    )
    def test_due_date_defaults_from_source_and_grade(
        self, session: Session, source: NcSource, grade: NcGrade, days: int
    ) -> None:
        nc = make_nc(session, source=source, grade=grade)
        assert nc.due_date == TODAY + timedelta(days=days)
        assert nc.status == NcStatus.open
        assert nc.raised_on == TODAY

    def test_an_override_replaces_the_default_and_a_given_date_wins(self, session: Session) -> None:
        session.add(NcDeadline(source=NcSource.internal_audit, grade=NcGrade.minor, days=14))
        session.commit()
        assert make_nc(session).due_date == TODAY + timedelta(days=14)
        assert make_nc(session, due_date=date(2027, 3, 1)).due_date == date(2027, 3, 1)

    def test_logs_the_creation(self, session: Session) -> None:
        nc = make_nc(session)
        event = session.exec(
            select(ActivityEvent).where(
                ActivityEvent.object_type == "nonconformity",
                ActivityEvent.object_id == str(nc.id),
            )
        ).one()
        assert event.verb == "create"

    def test_refuses_an_inactive_owner_and_a_due_date_before_today(self, session: Session) -> None:
        gone = make_user(session, roles=[Role.owner], is_active=False)
        with pytest.raises(Invalid) as owner_error:
            make_nc(session, gone)
        assert owner_error.value.field == "owner_id"
        with pytest.raises(Invalid) as date_error:
            make_nc(session, due_date=TODAY - timedelta(days=1))
        assert date_error.value.field == "due_date"


class TestCloseGate:
    def test_first_action_starts_work(self, session: Session) -> None:
        nc = make_nc(session)
        add_action(session, nc)
        assert nc.status == NcStatus.in_progress

    def test_verification_needs_every_action_finished_and_a_corrective_one_done(
        self, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        nc = make_nc(session, owner)
        nc_service.record_root_cause(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            method=RootCauseMethod.fishbone,
            analysis="流程缺失",
            effectiveness_check_date=None,
        )
        preventive = add_action(session, nc, kind=ActionKind.preventive)
        with use_locale("en"), pytest.raises(Conflict, match="done or cancelled"):
            nc_service.request_verification(
                session=session, now=NOW, actor_id=None, nonconformity=nc
            )
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            action=preventive,
            status=ActionStatus.done,
        )
        with use_locale("en"), pytest.raises(Conflict, match="corrective action"):
            nc_service.request_verification(
                session=session, now=NOW, actor_id=None, nonconformity=nc
            )
        assert nc.status == NcStatus.in_progress

    def test_effective_closes_and_closed_is_read_only(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        auditor = make_user(session, roles=[Role.auditor])
        nc = ready_for_verification(session, owner)
        nc_service.verify(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            nonconformity=nc,
            verdict=Verdict.effective,
        )
        assert nc.status == NcStatus.closed
        assert nc.closed_at == NOW
        with pytest.raises(Conflict):
            add_action(session, nc)

    def test_not_effective_reopens_and_keeps_the_history(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        auditor = make_user(session, roles=[Role.auditor])
        nc = ready_for_verification(session, owner)
        with pytest.raises(Invalid) as no_reason:
            nc_service.verify(
                session=session,
                now=NOW,
                actor_id=auditor.id or 0,
                nonconformity=nc,
                verdict=Verdict.not_effective,
            )
        assert no_reason.value.field == "notes"
        nc_service.verify(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            nonconformity=nc,
            verdict=Verdict.not_effective,
            notes="抽查仍有问题",
        )
        assert nc.status == NcStatus.in_progress
        assert nc.reopened_count == 1
        history = nc_service.verifications(session=session, nonconformity_id=nc.id or 0)
        assert [v.verdict for v in history] == [Verdict.not_effective]
        with pytest.raises(Conflict):
            nc_service.verify(
                session=session,
                now=NOW,
                actor_id=auditor.id or 0,
                nonconformity=nc,
                verdict=Verdict.effective,
            )

    def test_owners_of_the_nc_or_an_action_may_not_verify(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        doer = make_user(session, roles=[Role.executive])
        nc = make_nc(session, owner)
        action = add_action(session, nc, doer)
        nc_service.record_root_cause(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            method=RootCauseMethod.other,
            analysis="x",
            effectiveness_check_date=None,
        )
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            action=action,
            status=ActionStatus.done,
        )
        nc_service.request_verification(session=session, now=NOW, actor_id=None, nonconformity=nc)
        for person in (owner, doer):
            with pytest.raises(Forbidden):
                nc_service.verify(
                    session=session,
                    now=NOW,
                    actor_id=person.id or 0,
                    nonconformity=nc,
                    verdict=Verdict.effective,
                )
        assert nc.status == NcStatus.verification

    def test_reopening_an_action_sends_verification_back(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        nc = ready_for_verification(session, owner)
        action = nc_service.actions(session=session, nonconformity_id=nc.id or 0)[0]
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            action=action,
            status=ActionStatus.open,
        )
        assert nc.status == NcStatus.in_progress
        assert action.done_on is None

    def test_the_owner_cannot_change_while_verification_is_pending(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        nc = ready_for_verification(session, owner)
        header = nc.model_dump(include=set(NonconformityCreate.model_fields))
        with use_locale("en"), pytest.raises(Conflict, match="verification is pending") as caught:
            nc_service.update(
                session=session,
                now=NOW,
                actor_id=owner.id,
                nonconformity=nc,
                data=NonconformityCreate(**{**header, "owner_id": successor.id}),
            )
        assert caught.value.field == "owner_id"
        assert nc.owner_id == owner.id
        nc_service.update(
            session=session,
            now=NOW,
            actor_id=owner.id,
            nonconformity=nc,
            data=NonconformityCreate(**{**header, "title": "改名"}),
        )
        assert nc.title == "改名"

    def test_whoever_did_or_handed_over_the_work_may_not_verify(self, session: Session) -> None:
        former = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        requester = make_user(session, roles=[Role.admin])
        auditor = make_user(session, roles=[Role.auditor])
        nc = make_nc(session, former)
        action = add_action(session, nc)  # no owner of its own: the nonconformity's owner's
        nc_service.record_root_cause(
            session=session,
            now=NOW,
            actor_id=former.id,
            nonconformity=nc,
            method=RootCauseMethod.five_whys,
            analysis="职责不清",
            effectiveness_check_date=None,
        )
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=former.id,
            nonconformity=nc,
            action=action,
            status=ActionStatus.done,
        )
        # Handed over while still in progress, then sent for verification by someone else.
        nc_service.update(
            session=session,
            now=NOW,
            actor_id=former.id,
            nonconformity=nc,
            data=NonconformityCreate(
                **{
                    **nc.model_dump(include=set(NonconformityCreate.model_fields)),
                    "owner_id": successor.id,
                }
            ),
        )
        nc_service.request_verification(
            session=session, now=NOW, actor_id=requester.id, nonconformity=nc
        )
        assert nc.verification_requested_by_id == requester.id
        for person in (former, successor, requester):
            assert not nc_service.may_verify(
                session=session, nonconformity=nc, user_id=person.id or 0
            )
            with pytest.raises(Forbidden):
                nc_service.verify(
                    session=session,
                    now=NOW,
                    actor_id=person.id or 0,
                    nonconformity=nc,
                    verdict=Verdict.effective,
                )
        assert nc.status == NcStatus.verification
        nc_service.verify(
            session=session,
            now=NOW,
            actor_id=auditor.id or 0,
            nonconformity=nc,
            verdict=Verdict.not_effective,
            notes="仍有问题",
        )
        assert nc.verification_requested_by_id is None


class TestDates:
    def test_done_dates_cannot_precede_the_raise_or_lie_ahead(self, session: Session) -> None:
        nc = make_nc(session)
        action = add_action(session, nc)
        for day in (TODAY - timedelta(days=1), TODAY + timedelta(days=1)):
            with pytest.raises(Invalid) as error:
                nc_service.set_action_status(
                    session=session,
                    now=NOW,
                    actor_id=None,
                    nonconformity=nc,
                    action=action,
                    status=ActionStatus.done,
                    done_on=day,
                )
            assert error.value.field == "done_on"
            with pytest.raises(Invalid) as correction:
                nc_service.record_correction(
                    session=session,
                    now=NOW,
                    actor_id=None,
                    nonconformity=nc,
                    correction="已更正",
                    done_on=day,
                )
            assert correction.value.field == "correction_done_on"
        with pytest.raises(Invalid) as check:
            nc_service.record_root_cause(
                session=session,
                now=NOW,
                actor_id=None,
                nonconformity=nc,
                method=None,
                analysis="",
                effectiveness_check_date=TODAY - timedelta(days=1),
            )
        assert check.value.field == "effectiveness_check_date"

    def test_today_is_the_day_in_shanghai_not_in_utc(self, session: Session) -> None:
        nc = make_nc(session)  # raised on 25 November
        after_midnight = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # 01:30 on 26 November
        nc_service.record_correction(
            session=session,
            now=after_midnight,
            actor_id=None,
            nonconformity=nc,
            correction="已补签",
            done_on=date(2026, 11, 26),
        )
        assert nc.correction_done_on == date(2026, 11, 26)

    def test_cancelling_needs_a_reason(self, session: Session) -> None:
        nc = make_nc(session)
        action = add_action(session, nc)
        with pytest.raises(Invalid):
            nc_service.set_action_status(
                session=session,
                now=NOW,
                actor_id=None,
                nonconformity=nc,
                action=action,
                status=ActionStatus.cancelled,
            )


class TestAggregates:
    def test_status_counts_and_overdue(self, session: Session) -> None:
        before = nc_service.status_counts(session=session)
        # Counted before the new ones: what is already open and late on that day.
        late_before = nc_service.overdue_count(session=session, today=TODAY + timedelta(days=61))
        assert late_before == nc_service.overdue_count(
            session=session, today=TODAY + timedelta(days=31)
        )
        make_nc(session)  # due in 60 days
        started = make_nc(session, grade=NcGrade.major)  # due in 30 days
        add_action(session, started)
        counts = nc_service.status_counts(session=session)
        assert counts[NcStatus.open] == before[NcStatus.open] + 1
        assert counts[NcStatus.in_progress] == before[NcStatus.in_progress] + 1
        assert counts[NcStatus.closed] == before[NcStatus.closed]
        assert (
            nc_service.overdue_count(session=session, today=TODAY + timedelta(days=31))
            == late_before + 1
        )
        assert (
            nc_service.overdue_count(session=session, today=TODAY + timedelta(days=61))
            == late_before + 2
        )


class TestDeadlines:
    def test_save_validates_and_blank_restores_the_default(self, session: Session) -> None:
        name = deadline_service.field_name(NcSource.other, NcGrade.minor)
        for bad in ("0", "731", "abc", "1.5"):
            errors = deadline_service.save(
                session=session, now=NOW, actor_id=None, submitted={name: bad}
            )
            assert name in errors
        assert session.exec(select(NcDeadline)).all() == []
        assert not deadline_service.save(
            session=session, now=NOW, actor_id=None, submitted={name: "45"}
        )
        assert (
            deadline_service.days_for(session=session, source=NcSource.other, grade=NcGrade.minor)
            == 45
        )
        deadline_service.save(session=session, now=NOW, actor_id=None, submitted={name: ""})
        assert (
            deadline_service.days_for(session=session, source=NcSource.other, grade=NcGrade.minor)
            == 60
        )


class TestDueItems:
    def test_nonconformities_and_actions_fall_due_for_their_owners(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        doer = make_user(session, roles=[Role.owner])
        nc = make_nc(session, owner, due_date=date(2026, 12, 20))
        mine = add_action(session, nc, doer, due_date=date(2026, 12, 10))
        fallback = add_action(session, nc, None, due_date=date(2026, 12, 11))
        add_action(session, nc, doer, due_date=date(2027, 6, 1))  # outside the window
        start, end = date(2026, 12, 1), date(2026, 12, 31)
        ncs = list(SOURCES[DueKind.nonconformity](session, start, end, owner.id))
        assert [(i.subject_id, i.owner_id, i.link) for i in ncs] == [
            (nc.id, owner.id, f"/nonconformities/{nc.id}")
        ]
        actions = list(SOURCES[DueKind.corrective_action](session, start, end, None))
        assert {(i.subject_id, i.owner_id) for i in actions} == {
            (mine.id, doer.id),
            (fallback.id, owner.id),
        }
        assert [
            i.subject_id for i in SOURCES[DueKind.corrective_action](session, start, end, owner.id)
        ] == [fallback.id]
        assert SUBJECTS["nonconformity"] is Nonconformity
        assert SUBJECTS["corrective_action"] is CorrectiveAction

    def test_finished_work_no_longer_falls_due(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        nc = make_nc(session, owner, due_date=date(2026, 12, 20))
        action = add_action(session, nc, owner, due_date=date(2026, 12, 10))
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=None,
            nonconformity=nc,
            action=action,
            status=ActionStatus.done,
        )
        start, end = date(2026, 12, 1), date(2026, 12, 31)
        assert list(SOURCES[DueKind.corrective_action](session, start, end, owner.id)) == []
        nc.status = NcStatus.closed
        session.add(nc)
        session.commit()
        assert list(SOURCES[DueKind.nonconformity](session, start, end, owner.id)) == []

    def test_the_effectiveness_check_falls_due_apart_from_the_deadline(
        self, session: Session, settings: Settings
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        day = date(2026, 12, 2)  # a week after NOW in Shanghai: the 7-day reminders go out
        nc = make_nc(session, owner, due_date=day)
        not_started = make_nc(session, owner, due_date=date(2027, 6, 1))
        for item in (nc, not_started):
            nc_service.record_root_cause(
                session=session,
                now=NOW,
                actor_id=None,
                nonconformity=item,
                method=RootCauseMethod.other,
                analysis="x",
                effectiveness_check_date=day,
            )
        add_action(session, nc)  # work under way: the check is planned for real
        start, end = date(2026, 12, 1), date(2026, 12, 31)
        items = list(SOURCES[DueKind.nonconformity](session, start, end, owner.id))
        assert sorted((i.subject_type, i.subject_id, i.due_date, i.owner_id) for i in items) == [
            ("nonconformity", nc.id, day, owner.id),
            ("nonconformity_check", nc.id, day, owner.id),
        ]
        assert {i.link for i in items} == {f"/nonconformities/{nc.id}"}
        assert SUBJECTS["nonconformity_check"] is Nonconformity
        # Same kind, subject and day: only the subject type keeps the ledger rows apart.
        reminders.plan(session=session, now=NOW, settings=settings)
        planned = session.exec(
            select(Notification.subject_type).where(
                Notification.subject_id == nc.id,
                col(Notification.subject_type).startswith("nonconformity"),
                Notification.threshold == "before:7",
                Notification.channel == "in_app",
            )
        ).all()
        assert sorted(planned) == ["nonconformity", "nonconformity_check"]
        nc.status = NcStatus.closed
        session.add(nc)
        session.commit()
        assert list(SOURCES[DueKind.nonconformity](session, start, end, owner.id)) == []
