"""Management review rules: who chairs and signs, the planned → held → signed order, the lock
after sign-off, output actions and their verification, and the reminders they feed."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, col, select

from app.errors import Conflict, Forbidden, Invalid
from app.models.activity import ActivityEvent
from app.models.notification import DueKind
from app.models.review import (
    ManagementReview,
    ManagementReviewCreate,
    ReviewAction,
    ReviewActionCreate,
    ReviewActionStatus,
    ReviewStatus,
)
from app.models.user import Role, User
from app.services.reminders.due_items import SOURCES, SUBJECTS
from app.services.reviews import service as review_service
from tests.factories import NOW, make_user

HELD_ON = date(2026, 11, 20)


def _create(session: Session, chair: User, **overrides: Any) -> ManagementReview:
    data = ManagementReviewCreate(
        **{
            "title": "2026年度管理评审",
            "planned_on": date(2026, 11, 20),
            "chair_id": chair.id or 0,
            "location": "一号会议室",
            **overrides,
        }
    )
    review = review_service.create(session=session, now=NOW, actor_id=None, data=data)
    session.commit()
    return review


def _held(session: Session, chair: User) -> ManagementReview:
    review = _create(session, chair)
    review_service.mark_held(
        session=session, now=NOW, actor_id=None, review=review, held_on=HELD_ON
    )
    session.commit()
    return review


def _action(
    session: Session, review: ManagementReview, owner: User, due: date = date(2027, 1, 31)
) -> ReviewAction:
    action = review_service.add_action(
        session=session,
        now=NOW,
        actor_id=None,
        review=review,
        data=ReviewActionCreate(
            description="完善数据治理制度", owner_id=owner.id or 0, due_date=due
        ),
    )
    session.commit()
    return action


def _events(session: Session, object_type: str, object_id: object) -> list[str]:
    return list(
        session.exec(
            select(ActivityEvent.verb)
            .where(
                ActivityEvent.object_type == object_type,
                ActivityEvent.object_id == str(object_id),
            )
            .order_by(col(ActivityEvent.id))
        ).all()
    )


class TestCreate:
    def test_plans_a_review_and_logs_it(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _create(session, chair)
        assert review.status == ReviewStatus.planned
        assert review.inputs is None
        assert _events(session, "management_review", review.id) == ["create"]

    @pytest.mark.parametrize(
        ("roles", "active"),
        [([Role.admin], True), ([Role.owner], True), ([Role.executive], False)],
    )
    def test_chair_must_be_an_active_executive(
        self, session: Session, roles: list[Role], active: bool
    ) -> None:
        chair = make_user(session, roles=roles, is_active=active)
        with pytest.raises(Invalid) as caught:
            _create(session, chair)
        assert caught.value.field == "chair_id"
        session.rollback()
        assert session.exec(select(ManagementReview)).first() is None


class TestMarkHeld:
    def test_freezes_the_inputs_and_records_the_date(self, session: Session) -> None:
        review = _held(session, make_user(session, roles=[Role.executive]))
        assert review.status == ReviewStatus.held
        assert review.held_on == HELD_ON
        assert review.inputs is not None
        assert review.inputs_frozen_at == NOW
        assert _events(session, "management_review", review.id) == ["create", "held"]

    def test_a_held_date_in_the_future_is_refused(self, session: Session) -> None:
        review = _create(session, make_user(session, roles=[Role.executive]))
        with pytest.raises(Invalid) as caught:
            review_service.mark_held(
                session=session,
                now=NOW,
                actor_id=None,
                review=review,
                held_on=date(2026, 11, 26),
            )
        assert caught.value.field == "held_on"
        assert review.status == ReviewStatus.planned
        assert review.inputs is None

    def test_today_is_the_day_in_shanghai_not_in_utc(self, session: Session) -> None:
        review = _create(session, make_user(session, roles=[Role.executive]))
        after_midnight = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # 01:30 on 26 November
        review_service.mark_held(
            session=session,
            now=after_midnight,
            actor_id=None,
            review=review,
            held_on=date(2026, 11, 26),
        )
        assert (review.status, review.held_on) == (ReviewStatus.held, date(2026, 11, 26))

    def test_marking_held_twice_is_a_conflict(self, session: Session) -> None:
        review = _held(session, make_user(session, roles=[Role.executive]))
        frozen = review.inputs
        with pytest.raises(Conflict):
            review_service.mark_held(
                session=session, now=NOW, actor_id=None, review=review, held_on=HELD_ON
            )
        assert review.inputs is frozen


class TestSign:
    def test_only_the_chair_signs_and_only_once_held(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        other = make_user(session, roles=[Role.executive])
        review = _create(session, chair)
        with pytest.raises(Conflict, match="已召开"):
            review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
        review_service.mark_held(
            session=session, now=NOW, actor_id=None, review=review, held_on=HELD_ON
        )
        with pytest.raises(Forbidden):
            review_service.sign(session=session, now=NOW, actor_id=other.id or 0, review=review)
        assert review.status == ReviewStatus.held
        review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
        assert (review.status, review.signed_by_id, review.signed_at) == (
            ReviewStatus.signed,
            chair.id,
            NOW,
        )
        with pytest.raises(Conflict):
            review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)

    def test_signed_record_refuses_every_edit_but_actions_move_on(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        owner = make_user(session, roles=[Role.owner])
        review = _held(session, chair)
        review_service.record_minutes(
            session=session,
            now=NOW,
            actor_id=None,
            review=review,
            minutes="会议纪要",
            decisions="决定",
        )
        action = _action(session, review, owner)
        review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
        session.commit()
        edits: list[Callable[[], object]] = [
            lambda: review_service.update(
                session=session,
                now=NOW,
                actor_id=None,
                review=review,
                data=ManagementReviewCreate(
                    title="改名", planned_on=date(2026, 11, 20), chair_id=chair.id or 0
                ),
            ),
            lambda: review_service.record_minutes(
                session=session, now=NOW, actor_id=None, review=review, minutes="改", decisions=""
            ),
            lambda: review_service.set_attendees(
                session=session, now=NOW, actor_id=None, review=review, user_ids=[owner.id or 0]
            ),
            lambda: _action(session, review, owner),
        ]
        for edit in edits:
            with pytest.raises(Conflict, match="已签署"):
                edit()
        assert (review.title, review.minutes) == ("2026年度管理评审", "会议纪要")
        review_service.complete_action(session=session, now=NOW, actor_id=None, action=action)
        review_service.verify_action(
            session=session, now=NOW, actor_id=chair.id or 0, action=action, note="已核实"
        )
        assert action.status == ReviewActionStatus.verified


class TestAttendeesAndMinutes:
    def test_replaces_attendees_and_logs_the_change(self, session: Session) -> None:
        review = _create(session, make_user(session, roles=[Role.executive]))
        a, b = make_user(session), make_user(session)
        review_service.set_attendees(
            session=session, now=NOW, actor_id=None, review=review, user_ids=[a.id or 0, b.id or 0]
        )
        review_service.set_attendees(
            session=session, now=NOW, actor_id=None, review=review, user_ids=[b.id or 0]
        )
        names = [
            u.name for u in review_service.attendees(session=session, review_id=review.id or 0)
        ]
        assert names == [b.name]
        assert _events(session, "management_review", review.id).count("attendees") == 2

    def test_inactive_attendee_is_refused(self, session: Session) -> None:
        review = _create(session, make_user(session, roles=[Role.executive]))
        gone = make_user(session, is_active=False)
        with pytest.raises(Invalid) as caught:
            review_service.set_attendees(
                session=session, now=NOW, actor_id=None, review=review, user_ids=[gone.id or 0]
            )
        assert caught.value.field == "attendee_ids"


class TestActions:
    def test_actions_wait_for_the_meeting(self, session: Session) -> None:
        review = _create(session, make_user(session, roles=[Role.executive]))
        with pytest.raises(Conflict, match="召开后"):
            _action(session, review, make_user(session))

    def test_due_date_before_the_review_is_refused(self, session: Session) -> None:
        review = _held(session, make_user(session, roles=[Role.executive]))
        with pytest.raises(Invalid) as caught:
            _action(session, review, make_user(session), due=date(2026, 11, 19))
        assert caught.value.field == "due_date"
        assert review_service.actions(session=session, review_id=review.id or 0) == []

    def test_done_then_verified_by_someone_else_with_a_note(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        owner = make_user(session, roles=[Role.owner, Role.executive])
        action = _action(session, _held(session, chair), owner)
        with pytest.raises(Conflict):
            review_service.verify_action(
                session=session, now=NOW, actor_id=chair.id or 0, action=action, note="看过"
            )
        later = datetime(2026, 12, 3, tzinfo=UTC)
        review_service.complete_action(session=session, now=later, actor_id=owner.id, action=action)
        assert (action.status, action.done_on) == (ReviewActionStatus.done, date(2026, 12, 3))
        with pytest.raises(Conflict):
            review_service.complete_action(session=session, now=NOW, actor_id=None, action=action)
        with pytest.raises(Forbidden):
            review_service.verify_action(
                session=session, now=NOW, actor_id=owner.id or 0, action=action, note="自己验"
            )
        with pytest.raises(Invalid):
            review_service.verify_action(
                session=session, now=NOW, actor_id=chair.id or 0, action=action, note="  "
            )
        review_service.verify_action(
            session=session, now=later, actor_id=chair.id or 0, action=action, note="制度已发布"
        )
        assert (action.status, action.verified_by_id, action.verification_note) == (
            ReviewActionStatus.verified,
            chair.id,
            "制度已发布",
        )
        assert _events(session, "review_action", action.id) == ["create", "done", "verify"]

    def test_whoever_reported_it_done_may_not_verify_it(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        reporter = make_user(session, roles=[Role.executive])
        action = _action(session, _held(session, chair), make_user(session, roles=[Role.owner]))
        review_service.complete_action(
            session=session, now=NOW, actor_id=reporter.id, action=action
        )
        assert action.done_by_id == reporter.id
        with pytest.raises(Forbidden, match="您已将该措施标记为完成"):
            review_service.verify_action(
                session=session, now=NOW, actor_id=reporter.id or 0, action=action, note="看过"
            )
        assert (action.status, action.verified_by_id) == (ReviewActionStatus.done, None)
        review_service.verify_action(
            session=session, now=NOW, actor_id=chair.id or 0, action=action, note="制度已发布"
        )
        assert action.status == ReviewActionStatus.verified

    def test_cancel_needs_a_reason_and_an_unfinished_action(self, session: Session) -> None:
        action = _action(
            session, _held(session, make_user(session, roles=[Role.executive])), make_user(session)
        )
        with pytest.raises(Invalid):
            review_service.cancel_action(
                session=session, now=NOW, actor_id=None, action=action, note=""
            )
        review_service.cancel_action(
            session=session, now=NOW, actor_id=None, action=action, note="并入下一年度计划"
        )
        assert action.status == ReviewActionStatus.cancelled
        with pytest.raises(Conflict):
            review_service.cancel_action(
                session=session, now=NOW, actor_id=None, action=action, note="再次"
            )


class TestDueItems:
    def test_a_planned_review_falls_to_its_chair(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _create(session, chair, planned_on=date(2026, 12, 20))
        _held(session, chair)  # held: nothing more to remind of
        fetch = SOURCES[DueKind.review]
        items = list(fetch(session, date(2026, 11, 1), date(2026, 12, 31), None))
        assert [(i.subject_id, i.owner_id, i.due_date, i.link) for i in items] == [
            (review.id, chair.id, date(2026, 12, 20), f"/reviews/{review.id}")
        ]
        assert list(fetch(session, date(2026, 11, 1), date(2026, 12, 19), None)) == []
        assert list(fetch(session, date(2026, 11, 1), date(2026, 12, 31), 999_999)) == []
        assert SUBJECTS[items[0].subject_type] is ManagementReview

    def test_open_review_actions_fall_to_their_owner(self, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        owner = make_user(session)
        review = _held(session, chair)
        open_action = _action(session, review, owner, due=date(2026, 12, 15))
        finished = _action(session, review, owner, due=date(2026, 12, 16))
        review_service.complete_action(session=session, now=NOW, actor_id=None, action=finished)
        fetch = SOURCES[DueKind.review_action]
        items = list(fetch(session, date(2026, 12, 1), date(2026, 12, 31), owner.id))
        assert [(i.subject_id, i.owner_id, i.link) for i in items] == [
            (open_action.id, owner.id, f"/reviews/{review.id}")
        ]
        assert list(fetch(session, date(2026, 12, 1), date(2026, 12, 31), chair.id)) == []
        assert SUBJECTS[items[0].subject_type] is ReviewAction
