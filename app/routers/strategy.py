"""The strategy map: strategy → competitive advantages → capabilities → goals."""

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.i18n import gettext as _
from app.i18n.labels import badge, label
from app.models.capability import Capability
from app.models.goal import Goal, GoalStatus
from app.models.strategy import AdvantageCreate, CompetitiveAdvantage, StrategyCreate
from app.permissions import Permission
from app.services.strategy import capabilities as capability_service
from app.services.strategy import goals as goal_service
from app.services.strategy import service as strategy_service
from app.services.strategy.goal_status import Assessment
from app.web import charts
from app.web.access.strategy import AdvantageById, CapabilityById, StrategyById
from app.web.deps import ApiActor, CurrentActor, Now, require
from app.web.forms import form_values, submit
from app.web.http import json_answer, redirect
from app.web.rendering import render

router = APIRouter(prefix="/strategy", tags=["strategy"], include_in_schema=False)
api_router = APIRouter(tags=["strategy"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_strategy))]


def _map_context(session: SessionDep, now: Now) -> dict[str, Any]:
    strategies = strategy_service.get_all(session=session)
    advantages = strategy_service.advantages(session=session)
    capabilities = capability_service.get_all(session=session)
    goals = goal_service.for_capabilities(
        session=session, capability_ids=[c.id for c in capabilities if c.id]
    )
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    links = capability_service.links(session=session)
    return {
        "strategies": strategies,
        "advantages": advantages,
        "capabilities": capabilities,
        "links": links,
        "goals": goals,
        "assessments": assessments,
        "map_option": charts.strategy_map(
            strategies, advantages, capabilities, links, goals, assessments
        ),
        "map_goal_limit": charts.MAP_GOAL_LIMIT,
    }


@dataclass(frozen=True)
class GoalTally:
    """How many goals, and per status (worst first, empty ones left out) its badge class,
    label and count, so the template calls no helper per row."""

    total: int
    by_status: list[tuple[str, str, int]]


def _tally(statuses: Counter[GoalStatus]) -> GoalTally:
    return GoalTally(
        statuses.total(),
        [(badge(s), label(s), statuses[s]) for s in charts.SEVERITY if statuses[s]],
    )


def _table_context(
    advantages: list[CompetitiveAdvantage],
    capabilities: list[Capability],
    links: list[tuple[int, int]],
    goals: list[Goal],
    assessments: dict[int, Assessment],
) -> dict[str, Any]:
    """The map's table as goal counts per advantage and capability. A capability's goals are
    fetched when the reader opens them, so the page stays small however many goals exist."""
    by_capability: dict[int, Counter[GoalStatus]] = {c.id or 0: Counter() for c in capabilities}
    for goal in goals:
        if goal.capability_id in by_capability:
            by_capability[goal.capability_id][assessments[goal.id or 0].status] += 1
    linked = set(links)
    served = {a.id or 0: [c for c in capabilities if (c.id, a.id) in linked] for a in advantages}
    return {
        "served": served,
        "capability_tallies": {c: _tally(n) for c, n in by_capability.items()},
        "advantage_tallies": {
            a: _tally(sum((by_capability[c.id or 0] for c in caps), Counter[GoalStatus]()))
            for a, caps in served.items()
        },
    }


def _page(
    request: Request, session: SessionDep, now: Now, status_code: int = 200, **extra: Any
) -> Response:
    context = _map_context(session, now)
    table = _table_context(
        context["advantages"],
        context["capabilities"],
        context["links"],
        context["goals"],
        context["assessments"],
    )
    context = {**context, **table, "values": {}, "errors": {}, "form": None, **extra}
    return render(request, "strategy/map.html", context, status_code=status_code)


@router.get("")
def map_page(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    return _page(request, session, now)


@router.get("/capabilities/{capability_id:int}/goals")
def capability_goals(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    capability: CapabilityById,
    capability_id: int,
) -> Response:
    """A capability's goals with their status: a page of its own, or (htmx) the list that
    opens under the capability in the map's table."""
    goals = goal_service.for_capabilities(session=session, capability_ids=[capability_id])
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    # The map's table lists a capability once under each advantage it serves, and each of
    # those rows has its own region for the goals to open into.
    advantage_ids = capability_service.advantage_ids(session=session, capability_id=capability_id)
    regions = [f"strategy-goals-{a}-{capability_id}" for a in advantage_ids]
    return render(
        request,
        "strategy/capability_goals.html",
        {"capability": capability, "goals": goals, "assessments": assessments},
        fragments=dict.fromkeys(regions, "capability_goals"),
    )


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: ManagerDep) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        StrategyCreate,
        values,
        lambda data: strategy_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(request, session, now, status, values=values, errors=errors, form="strategy")
    session.commit()
    return redirect(request, "/strategy", toast=_("Strategy saved as a draft."))


@router.post("/{strategy_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, strategy: StrategyById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        StrategyCreate,
        values,
        lambda data: strategy_service.update(
            session=session, now=now, actor_id=actor.id, strategy=strategy, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request,
            session,
            now,
            status,
            values=values,
            errors=errors,
            form=f"strategy-{strategy.id}",
        )
    session.commit()
    return redirect(request, "/strategy", toast=_("Changes saved."))


@router.post("/{strategy_id:int}/approve")
def approve(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, strategy: StrategyById
) -> Response:
    strategy_service.approve(session=session, now=now, actor_id=actor.id, strategy=strategy)
    session.commit()
    return redirect(request, "/strategy", toast=_("Strategy approved."))


@router.post("/{strategy_id:int}/advantages")
async def create_advantage(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, strategy: StrategyById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        AdvantageCreate,
        {**values, "strategy_id": strategy.id},
        lambda data: strategy_service.create_advantage(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request,
            session,
            now,
            status,
            values=values,
            errors=errors,
            form=f"advantage-{strategy.id}",
        )
    session.commit()
    return redirect(request, "/strategy", toast=_("Competitive advantage added."))


@router.post("/advantages/{advantage_id:int}/delete")
def delete_advantage(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, advantage: AdvantageById
) -> Response:
    strategy_service.delete_advantage(
        session=session, now=now, actor_id=actor.id, advantage=advantage
    )
    session.commit()
    return redirect(request, "/strategy", toast=_("Competitive advantage deleted."))


@api_router.get(
    "/strategy-map",
    response_model=dict[str, Any],
    summary="The strategy → advantage → capability → goal graph",
)
def api_map(session: SessionDep, now: Now, actor: ApiActor) -> Response:
    context = _map_context(session, now)
    return json_answer(
        {
            "strategies": [s.model_dump(mode="json") for s in context["strategies"]],
            "advantages": [a.model_dump(mode="json") for a in context["advantages"]],
            "capabilities": [c.model_dump(mode="json") for c in context["capabilities"]],
            "links": [{"capability_id": c, "advantage_id": a} for c, a in context["links"]],
            "goals": [
                {**g.model_dump(mode="json"), "status": context["assessments"][g.id].status}
                for g in context["goals"]
            ],
        }
    )
