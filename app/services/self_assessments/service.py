"""Yearly self-assessment results (评估与诊断, GB/T 23020): the overall score, the development
stage and the six views, as the national platform reports them, and the weak views followed
up by capabilities and goals.

A view is weak when its score is below the year's overall score: the views pulling the level
down are the ones worth a capability or goal of their own. Scores and stages are stored as
reported; the app does not compute them (the platform's weights are not public).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.models.capability import Capability
from app.models.goal import Goal
from app.models.self_assessment import (
    AssessmentView,
    SelfAssessment,
    SelfAssessmentCreate,
    ViewLink,
)
from app.services.activity import service as activity
from app.services.loading import found

VIEWS: tuple[AssessmentView, ...] = tuple(AssessmentView)


def get(*, session: Session, assessment_id: int) -> SelfAssessment:
    return found(
        session.get(SelfAssessment, assessment_id), _("This self-assessment does not exist.")
    )


def all_years(*, session: Session) -> list[SelfAssessment]:
    """Every year's result, oldest first (one row a year, so the list stays short)."""
    return list(session.exec(select(SelfAssessment).order_by(col(SelfAssessment.year))).all())


def by_year(*, session: Session, year: int) -> SelfAssessment | None:
    return session.exec(select(SelfAssessment).where(SelfAssessment.year == year)).first()


def _duplicate(year: int) -> Conflict:
    return Conflict(
        _("A result for %(year)d is already recorded; edit that one instead.", year=year),
        field="year",
    )


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: SelfAssessmentCreate
) -> SelfAssessment:
    if by_year(session=session, year=data.year) is not None:
        raise _duplicate(data.year)
    assessment = SelfAssessment(**data.model_dump(), created_at=now, updated_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=assessment,
        object_type="self_assessment",
        after=data.model_dump(),
    )
    return assessment


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    assessment: SelfAssessment,
    data: SelfAssessmentCreate,
) -> SelfAssessment:
    other = by_year(session=session, year=data.year)
    if other is not None and other.id != assessment.id:
        raise _duplicate(data.year)
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=assessment,
        fields=data.model_dump(),
        object_type="self_assessment",
    )
    return assessment


def delete(
    *, session: Session, now: datetime, actor_id: int | None, assessment: SelfAssessment
) -> None:
    before = assessment.model_dump(mode="json")
    session.delete(assessment)
    session.flush()
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="self_assessment",
        object_id=before["id"],
        before=before,
    )


def scores(assessment: SelfAssessment) -> dict[AssessmentView, float | None]:
    return {view: getattr(assessment, str(view)) for view in VIEWS}


def weak_views(assessment: SelfAssessment | None) -> list[AssessmentView]:
    """Views scored below the year's overall score, weakest first."""
    if assessment is None:
        return []
    found = [
        (score, VIEWS.index(view), view)
        for view, score in scores(assessment).items()
        if score is not None and score < assessment.overall_score
    ]
    return [view for _score, _index, view in sorted(found)]


def latest(*, session: Session) -> dict[str, Any] | None:
    """The newest year's result for the management-review input package."""
    assessment = session.exec(
        select(SelfAssessment).order_by(col(SelfAssessment.year).desc())
    ).first()
    if assessment is None:
        return None
    return {
        "year": assessment.year,
        "overall": assessment.overall_score,
        "stage": str(assessment.stage) if assessment.stage else None,
        "views": {str(view): score for view, score in scores(assessment).items()},
    }


# --- weak views followed up by capabilities and goals ----------------------------------------


@dataclass(frozen=True)
class LinkRow:
    link: ViewLink
    title: str
    url: str


def links(*, session: Session) -> dict[AssessmentView, list[LinkRow]]:
    """Each view's capabilities and goals, titles included, in two queries."""
    found: dict[AssessmentView, list[LinkRow]] = {view: [] for view in VIEWS}
    for link, title in session.exec(
        select(ViewLink, Capability.title)
        .join(Capability, col(Capability.id) == col(ViewLink.capability_id))
        .order_by(col(ViewLink.id))
    ).all():
        found[AssessmentView(link.view)].append(
            LinkRow(link, title, f"/capabilities/{link.capability_id}")
        )
    for link, indicator in session.exec(
        select(ViewLink, Goal.indicator)
        .join(Goal, col(Goal.id) == col(ViewLink.goal_id))
        .order_by(col(ViewLink.id))
    ).all():
        found[AssessmentView(link.view)].append(LinkRow(link, indicator, f"/goals/{link.goal_id}"))
    return found


def get_link(*, session: Session, link_id: int) -> ViewLink:
    return found(session.get(ViewLink, link_id), _("This link does not exist."))


def link(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    view: AssessmentView,
    capability_id: int | None,
    goal_id: int | None,
) -> ViewLink:
    """Follow a view up with one capability or one goal."""
    if (capability_id is None) == (goal_id is None):
        raise Invalid(_("Choose a capability or a goal."), field="target")
    if capability_id is not None and session.get(Capability, capability_id) is None:
        raise Invalid(_("Choose one of the offered options."), field="target")
    if goal_id is not None and session.get(Goal, goal_id) is None:
        raise Invalid(_("Choose one of the offered options."), field="target")
    existing = session.exec(
        select(ViewLink).where(
            ViewLink.view == view,
            col(ViewLink.capability_id) == capability_id
            if capability_id is not None
            else col(ViewLink.capability_id).is_(None),
            col(ViewLink.goal_id) == goal_id
            if goal_id is not None
            else col(ViewLink.goal_id).is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(_("This view is already linked to it."), field="target")
    created = ViewLink(view=view, capability_id=capability_id, goal_id=goal_id)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=created,
        object_type="assessment_view_link",
        after={"view": view, "capability_id": capability_id, "goal_id": goal_id},
    )
    return created


def unlink(*, session: Session, now: datetime, actor_id: int | None, link: ViewLink) -> None:
    before = link.model_dump(mode="json")
    session.delete(link)
    session.flush()
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="assessment_view_link",
        object_id=before["id"],
        before=before,
    )


def link_targets(*, session: Session, limit: int = 500) -> list[tuple[str, str]]:
    """(value, text) choices for the link form: capabilities, then goals."""
    capabilities = session.exec(
        select(Capability.id, Capability.code, Capability.title)
        .order_by(col(Capability.code))
        .limit(limit)
    ).all()
    goals = session.exec(
        select(Goal.id, Goal.indicator, Capability.code)
        .join(Capability, col(Capability.id) == Goal.capability_id)
        .order_by(col(Capability.code), col(Goal.id))
        .limit(limit)
    ).all()
    return [(f"capability:{i}", f"{code} {title}") for i, code, title in capabilities] + [
        (f"goal:{i}", f"{code} · {indicator}") for i, indicator, code in goals
    ]
