"""Management reviews (管理评审): planning, the meeting record, sign-off, and output actions.

A review moves planned → held → signed. Marking it held freezes the input package; the
chair's signature locks the record, so that what top management signed cannot change later.
Output actions keep moving after the sign-off (they are carried out afterwards): open → done
(by the owner or an overseer) → verified (by someone other than the owner and than whoever
reported it done), or cancelled.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from app.clock import local_date
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.i18n import gettext as _
from app.models.pdca import PdcaCycle
from app.models.review import (
    OPEN_REVIEW_ACTION_STATUSES,
    ManagementReview,
    ManagementReviewCreate,
    ReviewAction,
    ReviewActionCreate,
    ReviewActionStatus,
    ReviewAttendee,
    ReviewStatus,
)
from app.models.user import Role, User, UserRole
from app.pagination import Page
from app.services.activity import service as activity
from app.services.loading import found
from app.services.reviews import inputs as review_inputs

REVIEW = "management_review"
ACTION = "review_action"


def get(*, session: Session, review_id: int) -> ManagementReview:
    return found(
        session.get(ManagementReview, review_id), _("This management review does not exist.")
    )


def get_action(*, session: Session, review_id: int, action_id: int) -> ReviewAction:
    action = session.get(ReviewAction, action_id)
    if action is None or action.review_id != review_id:
        raise NotFound(_("This review action does not exist."))
    return action


@dataclass(frozen=True)
class ReviewRow:
    review: ManagementReview
    chair_name: str
    open_actions: int


def page(*, session: Session, page: Page) -> tuple[list[ReviewRow], int]:
    """Reviews, newest planned date first, with the chair and the count of open actions."""
    open_actions = (
        select(ReviewAction.review_id, func.count().label("n"))
        .where(col(ReviewAction.status).in_(OPEN_REVIEW_ACTION_STATUSES))
        .group_by(col(ReviewAction.review_id))
        .subquery()
    )
    rows = session.exec(
        select(ManagementReview, User.name, func.coalesce(open_actions.c.n, 0))
        .join(User, col(User.id) == ManagementReview.chair_id)
        .outerjoin(open_actions, open_actions.c.review_id == ManagementReview.id)
        .order_by(col(ManagementReview.planned_on).desc(), col(ManagementReview.id).desc())
        .offset(page.offset)
        .limit(page.size)
    ).all()
    total = session.exec(select(func.count()).select_from(ManagementReview)).one()
    return [ReviewRow(review, name, int(n)) for review, name, n in rows], total


def chair_options(*, session: Session) -> list[tuple[int, str]]:
    """Active users holding the executive role: the people who may chair a review."""
    rows = session.exec(
        select(User.id, User.name)
        .join(UserRole, col(UserRole.user_id) == User.id)
        .where(col(User.is_active), UserRole.role == Role.executive)
        .order_by(col(User.name))
    ).all()
    return [(uid, name) for uid, name in rows if uid is not None]


def attendees(*, session: Session, review_id: int) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(ReviewAttendee, col(ReviewAttendee.user_id) == User.id)
            .where(ReviewAttendee.review_id == review_id)
            .order_by(col(User.name))
        ).all()
    )


def actions(*, session: Session, review_id: int) -> list[ReviewAction]:
    return list(
        session.exec(
            select(ReviewAction)
            .where(ReviewAction.review_id == review_id)
            .order_by(col(ReviewAction.id))
        ).all()
    )


def review_date(review: ManagementReview) -> date:
    """The day the review took place, or is planned to."""
    return review.held_on or review.planned_on


def _require_unsigned(review: ManagementReview) -> None:
    if review.status == ReviewStatus.signed:
        raise Conflict(_("This review has been signed; its record can no longer be changed."))


def _check_chair(session: Session, chair_id: int) -> None:
    chair = session.get(User, chair_id)
    is_executive = session.get(UserRole, (chair_id, Role.executive)) is not None if chair else False
    if chair is None or not chair.is_active or not is_executive:
        raise Invalid(_("The chair must be an active user from top management."), field="chair_id")


def _check_header(session: Session, data: ManagementReviewCreate) -> None:
    _check_chair(session, data.chair_id)
    if data.cycle_id is not None and session.get(PdcaCycle, data.cycle_id) is None:
        raise Invalid(_("Choose one of the offered options."), field="cycle_id")


def _fields(data: ManagementReviewCreate) -> dict[str, Any]:
    values = data.model_dump()
    values["title"] = data.title.strip()
    values["location"] = data.location.strip()
    return values


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: ManagementReviewCreate
) -> ManagementReview:
    """Plan a review."""
    _check_header(session, data)
    review = ManagementReview(**_fields(data), created_at=now, updated_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=review,
        object_type=REVIEW,
        after=data.model_dump(),
    )
    return review


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    review: ManagementReview,
    data: ManagementReviewCreate,
) -> ManagementReview:
    """Change the title, date, chair or location, until the review is signed."""
    _require_unsigned(review)
    _check_header(session, data)
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=review,
        fields=_fields(data),
        object_type=REVIEW,
    )
    return review


def set_attendees(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    review: ManagementReview,
    user_ids: list[int],
) -> list[int]:
    """Replace the list of attendees."""
    _require_unsigned(review)
    wanted = sorted(set(user_ids))
    if wanted:
        found = session.exec(
            select(User.id).where(col(User.id).in_(wanted), col(User.is_active))
        ).all()
        if len(found) != len(wanted):
            raise Invalid(_("Choose active users as attendees."), field="attendee_ids")
    current = sorted(
        session.exec(
            select(ReviewAttendee.user_id).where(ReviewAttendee.review_id == review.id)
        ).all()
    )
    if current == wanted:
        return wanted
    session.exec(delete(ReviewAttendee).where(col(ReviewAttendee.review_id) == review.id))
    assert review.id is not None
    session.add_all(ReviewAttendee(review_id=review.id, user_id=uid) for uid in wanted)
    review.updated_at = now
    session.add(review)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="attendees",
        object_type=REVIEW,
        object_id=review.id,
        before={"attendee_ids": current},
        after={"attendee_ids": wanted},
    )
    return wanted


def record_minutes(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    review: ManagementReview,
    minutes: str,
    decisions: str,
) -> ManagementReview:
    """Save the minutes and the decisions (管理评审输出)."""
    _require_unsigned(review)
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=review,
        fields={"minutes": minutes.strip(), "decisions": decisions.strip()},
        object_type=REVIEW,
        verb="minutes",
    )
    return review


def previous_held_on(*, session: Session, review: ManagementReview, on: date) -> date | None:
    """The held date of the last review held before this one, on or before a day."""
    return session.exec(
        select(func.max(ManagementReview.held_on)).where(
            col(ManagementReview.status) != ReviewStatus.planned,
            col(ManagementReview.id) != review.id,
            col(ManagementReview.held_on) <= on,
        )
    ).one()


def live_inputs(*, session: Session, review: ManagementReview, today: date) -> dict[str, Any]:
    """The package as it would be frozen if the review were marked held today."""
    since = previous_held_on(session=session, review=review, on=today)
    return review_inputs.assemble(session=session, today=today, since=since)


def inputs(*, session: Session, review: ManagementReview, today: date) -> dict[str, Any]:
    """The frozen package once held; until then the live one."""
    if review.inputs is not None:
        return review.inputs
    return live_inputs(session=session, review=review, today=today)


def mark_held(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    review: ManagementReview,
    held_on: date,
) -> ManagementReview:
    """Record that the meeting took place and freeze the input package as it stands now."""
    if review.status != ReviewStatus.planned:
        raise Conflict(_("This review has already been marked as held."))
    today = local_date(now)
    if held_on > today:
        raise Invalid(_("The review cannot have been held in the future."), field="held_on")
    # The package is what the data says at the moment of freezing: the meeting looked at it.
    review.inputs = live_inputs(session=session, review=review, today=today)
    review.inputs_frozen_at = now
    review.held_on = held_on
    review.status = ReviewStatus.held
    review.updated_at = now
    session.add(review)
    # The package goes into the hash-chained log too, so a later edit of the stored JSON shows.
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="held",
        object_type=REVIEW,
        object_id=review.id,
        before={"status": ReviewStatus.planned},
        after={"status": ReviewStatus.held, "held_on": held_on, "inputs": review.inputs},
    )
    return review


def sign(
    *, session: Session, now: datetime, actor_id: int, review: ManagementReview
) -> ManagementReview:
    """The chair's sign-off, which locks the record."""
    if actor_id != review.chair_id:
        raise Forbidden(_("Only the chair of this review may sign it."))
    if review.status == ReviewStatus.signed:
        raise Conflict(_("This review has already been signed."))
    if review.status != ReviewStatus.held:
        raise Conflict(_("Mark the review as held before signing it."))
    review.status = ReviewStatus.signed
    review.signed_by_id = actor_id
    review.signed_at = now
    review.updated_at = now
    session.add(review)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="sign",
        object_type=REVIEW,
        object_id=review.id,
        before={"status": ReviewStatus.held},
        after={"status": ReviewStatus.signed},
    )
    return review


def add_action(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    review: ManagementReview,
    data: ReviewActionCreate,
) -> ReviewAction:
    """An output action of a held review, with its owner and due date."""
    _require_unsigned(review)
    if review.status != ReviewStatus.held:
        raise Conflict(_("Record the review's actions once it has been held."))
    if data.due_date < review_date(review):
        raise Invalid(_("The due date cannot be before the review date."), field="due_date")
    owner = session.get(User, data.owner_id)
    if owner is None or not owner.is_active:
        raise Invalid(_("Choose an active user as owner."), field="owner_id")
    assert review.id is not None
    action = ReviewAction(
        description=data.description.strip(),
        owner_id=data.owner_id,
        due_date=data.due_date,
        review_id=review.id,
        created_at=now,
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=action,
        object_type=ACTION,
        after={**data.model_dump(), "review_id": review.id},
    )
    return action


def _move(
    session: Session,
    now: datetime,
    actor_id: int | None,
    action: ReviewAction,
    verb: str,
    changes: dict[str, Any],
) -> ReviewAction:
    before = {"status": action.status}
    for name, value in changes.items():
        setattr(action, name, value)
    session.add(action)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb=verb,
        object_type=ACTION,
        object_id=action.id,
        before=before,
        after=changes,
    )
    return action


def complete_action(
    *, session: Session, now: datetime, actor_id: int | None, action: ReviewAction
) -> ReviewAction:
    """The owner (or an overseer) reports the action done; verification follows."""
    if action.status != ReviewActionStatus.open:
        raise Conflict(_("Only an open action can be marked done."))
    return _move(
        session,
        now,
        actor_id,
        action,
        "done",
        {"status": ReviewActionStatus.done, "done_on": local_date(now), "done_by_id": actor_id},
    )


def verify_action(
    *, session: Session, now: datetime, actor_id: int, action: ReviewAction, note: str
) -> ReviewAction:
    """Someone other than the owner and the reporter confirms the action was carried out."""
    if action.status != ReviewActionStatus.done:
        raise Conflict(_("Only an action marked done can be verified."))
    if actor_id == action.owner_id:
        raise Forbidden(_("You own this action, so someone else verifies it."))
    if actor_id == action.done_by_id:
        # An overseer who reported someone else's action done would otherwise check their own word.
        raise Forbidden(_("You marked this action done, so someone else verifies it."))
    if not note.strip():
        raise Invalid(_("Say what you checked."), field="note")
    return _move(
        session,
        now,
        actor_id,
        action,
        "verify",
        {
            "status": ReviewActionStatus.verified,
            "verified_by_id": actor_id,
            "verified_at": now,
            "verification_note": note.strip(),
        },
    )


def cancel_action(
    *, session: Session, now: datetime, actor_id: int | None, action: ReviewAction, note: str
) -> ReviewAction:
    """Drop an action that is no longer needed, saying why."""
    if action.status not in OPEN_REVIEW_ACTION_STATUSES:
        raise Conflict(_("This action is already closed."))
    if not note.strip():
        raise Invalid(_("Say why the action is cancelled."), field="note")
    return _move(
        session,
        now,
        actor_id,
        action,
        "cancel",
        {"status": ReviewActionStatus.cancelled, "verification_note": note.strip()},
    )
