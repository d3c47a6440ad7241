"""The input package of a management review (管理评审输入), assembled from the data.

GB/T 23001 asks a management review to consider the status of earlier review actions, goal
attainment, audit results, nonconformities and corrective actions, the state of documented
information, assessment results and changes. The package holds numbers and a few rows, never
references to live objects: it is stored as JSON when the review is held, and from then on the
record shows the numbers as they were, whatever happens to the data afterwards.
"""

from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent
from app.models.audit import Audit, AuditStatus, ChecklistItem, ChecklistResult, Finding
from app.models.evidence import Evidence, EvidenceStatus
from app.models.goal import Goal, GoalStatus
from app.models.nonconformity import OPEN_NC_STATUSES, NcGrade, NcStatus, Nonconformity
from app.models.requirement import Framework
from app.models.review import (
    OPEN_REVIEW_ACTION_STATUSES,
    ManagementReview,
    ReviewAction,
    ReviewActionStatus,
)
from app.models.self_assessment import SelfAssessment
from app.models.user import User
from app.services.evidence.service import expired_clause
from app.services.requirements import coverage
from app.services.self_assessments import service as self_assessment
from app.services.strategy import goals as goal_service

# Bump when a section's keys change, so that readers of stored packages can tell old from new.
VERSION = 1
SECTIONS = (
    "previous_actions",
    "goals",
    "audits",
    "nonconformities",
    "evidence",
    "self_assessment",
    "changes",
)
CARRY_OVER_ROWS = 200  # the counts stay complete; the listed rows are bounded


def assemble(*, session: Session, today: date, since: date | None) -> dict[str, Any]:
    """The package as the data stands today; `since` is the previous review's held date
    (None when there was none), from which audits, completions and changes are counted."""
    return {
        "version": VERSION,
        "assembled_on": today.isoformat(),
        "since": since.isoformat() if since else None,
        "previous_actions": _previous_actions(session, today, since),
        "goals": _goals(session, today),
        "audits": _audits(session, since),
        "nonconformities": _nonconformities(session, today),
        "evidence": _evidence(session, today),
        "self_assessment": _self_assessment(session),
        "changes": _changes(session, since),
    }


def _self_assessment(session: Session) -> dict[str, Any]:
    """The newest 评估与诊断 result (year, overall score, stage, the six views)."""
    latest = self_assessment.latest(session=session)
    recorded = session.exec(select(func.count()).select_from(SelfAssessment)).one()
    return {"recorded": recorded, "results": [latest] if latest else []}


def _since_moment(since: date) -> datetime:
    return datetime.combine(since, time.min, tzinfo=UTC)


def _previous_actions(session: Session, today: date, since: date | None) -> dict[str, Any]:
    rows = session.exec(
        select(ReviewAction, ManagementReview.title, User.name)
        .join(ManagementReview, col(ManagementReview.id) == ReviewAction.review_id)
        .join(User, col(User.id) == ReviewAction.owner_id)
        .where(col(ReviewAction.status).in_(OPEN_REVIEW_ACTION_STATUSES))
        .order_by(col(ReviewAction.due_date), col(ReviewAction.id))
        .limit(CARRY_OVER_ROWS)
    ).all()
    counts = dict(
        session.exec(
            select(ReviewAction.status, func.count())
            .where(col(ReviewAction.status).in_(OPEN_REVIEW_ACTION_STATUSES))
            .group_by(col(ReviewAction.status))
        ).all()
    )
    overdue = session.exec(
        select(func.count())
        .select_from(ReviewAction)
        .where(
            col(ReviewAction.status) == ReviewActionStatus.open,
            col(ReviewAction.due_date) < today,
        )
    ).one()
    verified = (
        select(func.count())
        .select_from(ReviewAction)
        .where(col(ReviewAction.status) == ReviewActionStatus.verified)
    )
    if since is not None:
        verified = verified.where(col(ReviewAction.verified_at) >= _since_moment(since))
    return {
        "open": counts.get(ReviewActionStatus.open, 0),
        "awaiting_verification": counts.get(ReviewActionStatus.done, 0),
        "overdue": overdue,
        "verified_since": session.exec(verified).one(),
        "carried_over": [
            {
                "id": action.id,
                "review": review_title,
                "description": action.description,
                "owner": owner_name,
                "due_date": action.due_date.isoformat(),
                "status": str(action.status),
            }
            for action, review_title, owner_name in rows
        ],
    }


def _goals(session: Session, today: date) -> dict[str, Any]:
    # The dashboard's rule, applied to every goal, so both show the same numbers.
    goals = list(session.exec(select(Goal).order_by(col(Goal.id))).all())
    assessments = goal_service.assessments(session=session, goals=goals, today=today)
    counts = Counter(a.status for a in assessments.values())
    return {"total": len(goals), "by_status": {str(s): counts.get(s, 0) for s in GoalStatus}}


def _audits(session: Session, since: date | None) -> dict[str, Any]:
    started = func.coalesce(Audit.actual_start, Audit.planned_start)
    held = select(Audit.id).where(col(Audit.status) != AuditStatus.planned)
    if since is not None:
        held = held.where(started >= since)
    held_ids = held.subquery()
    audits = session.exec(select(func.count()).select_from(held_ids)).one()
    items = dict(
        session.exec(
            select(ChecklistItem.result, func.count())
            .where(col(ChecklistItem.audit_id).in_(select(held_ids.c.id)))
            .group_by(col(ChecklistItem.result))
        ).all()
    )
    findings = dict(
        session.exec(
            select(Finding.grade, func.count())
            .where(col(Finding.audit_id).in_(select(held_ids.c.id)))
            .group_by(col(Finding.grade))
        ).all()
    )
    return {
        "audits": audits,
        "checklist": {str(r): items.get(r, 0) for r in ChecklistResult},
        "findings": {
            str(g): findings.get(g, 0)
            for g in (
                ChecklistResult.major_nc,
                ChecklistResult.minor_nc,
                ChecklistResult.observation,
            )
        },
    }


def _nonconformities(session: Session, today: date) -> dict[str, Any]:
    by_status = dict(
        session.exec(
            select(Nonconformity.status, func.count()).group_by(col(Nonconformity.status))
        ).all()
    )
    is_open = col(Nonconformity.status).in_(OPEN_NC_STATUSES)
    overdue, open_major = session.exec(
        select(
            func.coalesce(func.sum(case((col(Nonconformity.due_date) < today, 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((col(Nonconformity.grade) == NcGrade.major, 1), else_=0)), 0
            ),
        ).where(is_open)
    ).one()
    return {
        "by_status": {str(s): by_status.get(s, 0) for s in NcStatus},
        "open": sum(by_status.get(s, 0) for s in OPEN_NC_STATUSES),
        "overdue": int(overdue),
        "open_major": int(open_major),
    }


def _evidence(session: Session, today: date) -> dict[str, Any]:
    expired = case((expired_clause(today), 1), else_=0)
    rows = session.exec(
        select(Evidence.status, func.count(), func.coalesce(func.sum(expired), 0)).group_by(
            col(Evidence.status)
        )
    ).all()
    by_status = {status: count for status, count, _expired in rows}
    frameworks = session.exec(select(Framework).order_by(col(Framework.code))).all()
    coverage_rows = []
    for framework in frameworks:
        assert framework.id is not None
        chapters = coverage.by_chapter(session=session, framework_id=framework.id, today=today)
        covered = sum(c.covered for c in chapters.values())
        stale = sum(c.stale for c in chapters.values())
        none = sum(c.none for c in chapters.values())
        if covered + stale + none:
            coverage_rows.append(
                {"framework": framework.code, "covered": covered, "stale": stale, "none": none}
            )
    return {
        "by_status": {str(s): by_status.get(s, 0) for s in EvidenceStatus},
        "expired": sum(int(n) for _status, _count, n in rows),
        "coverage": coverage_rows,
    }


def _changes(session: Session, since: date | None) -> dict[str, Any]:
    query = select(ActivityEvent.object_type, func.count()).group_by(col(ActivityEvent.object_type))
    if since is not None:
        query = query.where(col(ActivityEvent.at) >= _since_moment(since))
    counts = dict(session.exec(query).all())
    return {"total": sum(counts.values()), "by_object_type": dict(sorted(counts.items()))}
