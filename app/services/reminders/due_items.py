"""The registry of things that fall due. Each module contributes a source: a function that
returns the open items whose due date lies in a window, with their owner."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, func, or_
from sqlmodel import Session, SQLModel, col, select

from app.i18n.labels import label
from app.models.audit import Audit, AuditStatus
from app.models.certification import Milestone, MilestoneKind
from app.models.evidence import Evidence, EvidenceStatus
from app.models.goal import Frequency, Goal, Measurement
from app.models.initiative import OPEN_TASK_STATUSES, Initiative, Task
from app.models.nonconformity import (
    OPEN_NC_STATUSES,
    ActionStatus,
    CorrectiveAction,
    NcStatus,
    Nonconformity,
)
from app.models.notification import DueKind
from app.models.review import ManagementReview, ReviewAction, ReviewActionStatus, ReviewStatus
from app.services.strategy.goal_status import period_end, period_start


@dataclass(frozen=True)
class DueItem:
    kind: DueKind
    subject_type: str
    subject_id: int
    title: str
    due_date: date
    owner_id: int
    link: str
    # The evidence the item is about: if restricted, only those who may open it read its title.
    evidence: Evidence | None = field(default=None, compare=False, repr=False)


# A source returns the open items due between two days; with an owner, only theirs.
Source = Callable[[Session, date, date, int | None], Iterable[DueItem]]
SOURCES: dict[DueKind, Source] = {}

# What a reminder's subject is, so that a reminder for a deleted item can be skipped.
SUBJECTS: dict[str, type[SQLModel]] = {
    "task": Task,
    "evidence": Evidence,
    "goal": Goal,
    "nonconformity": Nonconformity,
    "nonconformity_check": Nonconformity,
    "corrective_action": CorrectiveAction,
    "management_review": ManagementReview,
    "review_action": ReviewAction,
    "audit": Audit,
    "certification_milestone": Milestone,
}


def source(kind: DueKind) -> Callable[[Source], Source]:
    def register(function: Source) -> Source:
        SOURCES[kind] = function
        return function

    return register


@source(DueKind.task)
def open_tasks(session: Session, start: date, end: date, owner_id: int | None) -> Iterable[DueItem]:
    query = (
        select(Task, Initiative.owner_id)
        .join(Initiative, col(Initiative.id) == Task.initiative_id)
        .where(
            col(Task.status).in_(OPEN_TASK_STATUSES),
            col(Task.due_date) >= start,
            col(Task.due_date) <= end,
        )
    )
    if owner_id is not None:
        query = query.where(
            or_(
                col(Task.owner_id) == owner_id,
                and_(col(Task.owner_id).is_(None), col(Initiative.owner_id) == owner_id),
            )
        )
    for task, initiative_owner in session.exec(query).all():
        owner = task.owner_id or initiative_owner
        if owner is not None and task.due_date is not None and task.id is not None:
            yield DueItem(
                DueKind.task, "task", task.id, task.title, task.due_date, owner, "/capabilities"
            )


@source(DueKind.evidence_review)
def evidence_reviews(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    query = select(Evidence).where(
        col(Evidence.status) == EvidenceStatus.approved,
        col(Evidence.next_review_date) >= start,
        col(Evidence.next_review_date) <= end,
        col(Evidence.owner_id).is_not(None),
    )
    if owner_id is not None:
        query = query.where(col(Evidence.owner_id) == owner_id)
    rows = session.exec(query).all()
    for e in rows:
        assert e.id is not None
        assert e.owner_id is not None
        assert e.next_review_date is not None
        yield DueItem(
            DueKind.evidence_review,
            "evidence",
            e.id,
            e.title,
            e.next_review_date,
            e.owner_id,
            f"/evidence/{e.id}",
            evidence=e,
        )


def next_measurement_due(goal: Goal, latest_period: date | None) -> date:
    """A value for a period is due on the day after the period ends."""
    frequency = Frequency(goal.frequency)
    step = {Frequency.monthly: 1, Frequency.quarterly: 3, Frequency.yearly: 12}[frequency]
    following = (
        latest_period + relativedelta(months=step)
        if latest_period is not None
        else period_start(frequency, goal.baseline_date)
    )
    return period_end(frequency, following)


@source(DueKind.goal_measurement)
def goal_measurements(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    latest = dict(
        session.exec(
            select(Measurement.goal_id, func.max(Measurement.period))
            .where(col(Measurement.superseded_by_id).is_(None))
            .group_by(col(Measurement.goal_id))
        ).all()
    )
    goals = select(Goal).where(col(Goal.owner_id).is_not(None), col(Goal.deadline) >= start)
    if owner_id is not None:
        goals = goals.where(col(Goal.owner_id) == owner_id)
    for goal in session.exec(goals):
        assert goal.id is not None
        assert goal.owner_id is not None
        due = next_measurement_due(goal, latest.get(goal.id))
        if start <= due <= end and due <= goal.deadline + relativedelta(months=1):
            yield DueItem(
                DueKind.goal_measurement,
                "goal",
                goal.id,
                goal.indicator,
                due,
                goal.owner_id,
                f"/goals/{goal.id}",
            )


@source(DueKind.corrective_action)
def corrective_actions(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """Open actions of open nonconformities; an action without an owner falls to the NC's."""
    query = (
        select(CorrectiveAction, Nonconformity.owner_id)
        .join(Nonconformity, col(Nonconformity.id) == CorrectiveAction.nonconformity_id)
        .where(
            col(CorrectiveAction.status) == ActionStatus.open,
            col(Nonconformity.status).in_(OPEN_NC_STATUSES),
            col(CorrectiveAction.due_date) >= start,
            col(CorrectiveAction.due_date) <= end,
        )
    )
    if owner_id is not None:
        query = query.where(
            or_(
                col(CorrectiveAction.owner_id) == owner_id,
                and_(
                    col(CorrectiveAction.owner_id).is_(None),
                    col(Nonconformity.owner_id) == owner_id,
                ),
            )
        )
    for action, nc_owner in session.exec(query).all():
        owner = action.owner_id or nc_owner
        if owner is not None and action.due_date is not None and action.id is not None:
            yield DueItem(
                DueKind.corrective_action,
                "corrective_action",
                action.id,
                action.description[:200],
                action.due_date,
                owner,
                f"/nonconformities/{action.nonconformity_id}",
            )


# Once actions are under way, the planned effectiveness check is due too. It has its own
# subject type, so that its ledger key never collides with the deadline's on the same day.
CHECK_STATUSES = (NcStatus.in_progress, NcStatus.verification)


@source(DueKind.nonconformity)
def nonconformities(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """An open nonconformity's deadline, and its effectiveness check, fall to its owner."""
    deadlines = select(Nonconformity).where(
        col(Nonconformity.status).in_(OPEN_NC_STATUSES),
        col(Nonconformity.due_date) >= start,
        col(Nonconformity.due_date) <= end,
        col(Nonconformity.owner_id).is_not(None),
    )
    checks = select(Nonconformity).where(
        col(Nonconformity.status).in_(CHECK_STATUSES),
        col(Nonconformity.effectiveness_check_date) >= start,
        col(Nonconformity.effectiveness_check_date) <= end,
        col(Nonconformity.owner_id).is_not(None),
    )
    if owner_id is not None:
        deadlines = deadlines.where(col(Nonconformity.owner_id) == owner_id)
        checks = checks.where(col(Nonconformity.owner_id) == owner_id)
    for subject_type, query, due in (
        ("nonconformity", deadlines, "due_date"),
        ("nonconformity_check", checks, "effectiveness_check_date"),
    ):
        for nc in session.exec(query).all():
            day = getattr(nc, due)
            assert nc.id is not None
            assert nc.owner_id is not None
            assert isinstance(day, date)
            yield DueItem(
                DueKind.nonconformity,
                subject_type,
                nc.id,
                nc.title,
                day,
                nc.owner_id,
                f"/nonconformities/{nc.id}",
            )


@source(DueKind.review)
def planned_reviews(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """A planned management review falls to its chair."""
    query = select(ManagementReview).where(
        col(ManagementReview.status) == ReviewStatus.planned,
        col(ManagementReview.planned_on) >= start,
        col(ManagementReview.planned_on) <= end,
    )
    if owner_id is not None:
        query = query.where(col(ManagementReview.chair_id) == owner_id)
    for review in session.exec(query).all():
        assert review.id is not None
        yield DueItem(
            DueKind.review,
            "management_review",
            review.id,
            review.title,
            review.planned_on,
            review.chair_id,
            f"/reviews/{review.id}",
        )


@source(DueKind.review_action)
def review_actions(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """Open review actions; once reported done, the owner has nothing more to do."""
    query = select(ReviewAction).where(
        col(ReviewAction.status) == ReviewActionStatus.open,
        col(ReviewAction.due_date) >= start,
        col(ReviewAction.due_date) <= end,
    )
    if owner_id is not None:
        query = query.where(col(ReviewAction.owner_id) == owner_id)
    for action in session.exec(query).all():
        assert action.id is not None
        yield DueItem(
            DueKind.review_action,
            "review_action",
            action.id,
            action.description[:200],
            action.due_date,
            action.owner_id,
            f"/reviews/{action.review_id}",
        )


@source(DueKind.audit)
def planned_audits(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """Audits still planned as their start comes near: the lead auditor prepares them."""
    query = select(Audit).where(
        col(Audit.status) == AuditStatus.planned,
        col(Audit.planned_start) >= start,
        col(Audit.planned_start) <= end,
    )
    if owner_id is not None:
        query = query.where(col(Audit.lead_auditor_id) == owner_id)
    for audit in session.exec(query).all():
        assert audit.id is not None
        yield DueItem(
            DueKind.audit,
            "audit",
            audit.id,
            audit.title,
            audit.planned_start,
            audit.lead_auditor_id,
            f"/audits/{audit.id}",
        )


@source(DueKind.milestone)
def certification_milestones(
    session: Session, start: date, end: date, owner_id: int | None
) -> Iterable[DueItem]:
    """Planned, not yet done certification milestones; one without an owner reminds nobody."""
    query = select(Milestone).where(
        col(Milestone.done_on).is_(None),
        col(Milestone.planned_on) >= start,
        col(Milestone.planned_on) <= end,
        col(Milestone.owner_id).is_not(None),
    )
    if owner_id is not None:
        query = query.where(col(Milestone.owner_id) == owner_id)
    for milestone in session.exec(query).all():
        assert milestone.id is not None
        assert milestone.owner_id is not None
        assert milestone.planned_on is not None
        # Rendered in the scan's language (the organization's default, Chinese).
        title = label(MilestoneKind(milestone.kind))
        if milestone.kind == MilestoneKind.surveillance:
            title = f"{title} {milestone.sequence}"
        yield DueItem(
            DueKind.milestone,
            "certification_milestone",
            milestone.id,
            title,
            milestone.planned_on,
            milestone.owner_id,
            "/certification",
        )
