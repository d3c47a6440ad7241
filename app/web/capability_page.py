"""The capability page: its goals with their trends, initiatives and tasks, life-cycle stage.

Shared by the capability, goal and initiative routes, whose forms live on this page and come
back to it with their errors."""

from datetime import datetime
from typing import Any

from fastapi import Request
from sqlmodel import Session
from starlette.responses import Response

from app.clock import local_date
from app.models.capability import STAGE_TRANSITIONS, Capability, Stage
from app.models.goal import Direction, Frequency
from app.models.initiative import Element, TaskStatus
from app.models.user import User
from app.services.accounts import users as user_service
from app.services.strategy import capabilities as capability_service
from app.services.strategy import goals as goal_service
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import pdca as pdca_service
from app.web import charts
from app.web.rendering import render

DETAIL_FRAGMENTS = {"initiatives": "initiatives", "stage": "stage"}


def _context(session: Session, now: datetime, capability: Capability) -> dict[str, Any]:
    assert capability.id is not None
    goals = goal_service.for_capabilities(session=session, capability_ids=[capability.id])
    series = goal_service.current_series(session=session, goal_ids=[g.id for g in goals if g.id])
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    initiatives = initiative_service.for_capability(session=session, capability_id=capability.id)
    return {
        "capability": capability,
        "owner": session.get(User, capability.owner_id) if capability.owner_id else None,
        "goals": goals,
        "assessments": assessments,
        "trends": {g.id: charts.goal_trend(g, series[g.id or 0]) for g in goals},
        "tables": {g.id: charts.trajectory_table(g, series[g.id or 0]) for g in goals},
        "initiatives": initiatives,
        "elements": list(Element),
        "task_statuses": list(TaskStatus),
        "history": capability_service.stage_history(session=session, capability_id=capability.id),
        "next_stages": sorted(STAGE_TRANSITIONS[Stage(capability.stage)], key=list(Stage).index),
        "requirements": capability_service.requirements(
            session=session, capability_id=capability.id
        ),
        "cycles": pdca_service.recent(session=session, limit=3),
        "directions": list(Direction),
        "frequencies": list(Frequency),
        "owner_options": user_service.options(session=session),
        "goal_values": {"direction": "increase", "frequency": "monthly"},
        "goal_errors": {},
        "initiative_errors": {},
        "stage_errors": {},
    }


def detail_response(
    request: Request,
    session: Session,
    now: datetime,
    capability: Capability,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The page, or the fragment htmx asks for; `extra` carries a refused form's values and
    errors."""
    context = {**_context(session, now, capability), **extra}
    return render(
        request,
        "capabilities/detail.html",
        context,
        fragments=DETAIL_FRAGMENTS,
        status_code=status_code,
    )
