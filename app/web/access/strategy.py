"""The strategy line (strategies, advantages, capabilities, goals, initiatives, PDCA cycles)
by its path ids, and who may record a goal's values or move a task."""

from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from app.actor import Actor
from app.db import SessionDep
from app.models.capability import Capability
from app.models.goal import Goal, Measurement
from app.models.initiative import Initiative, Task
from app.models.pdca import PdcaCycle
from app.models.strategy import CompetitiveAdvantage, Strategy
from app.permissions import Permission
from app.services.strategy import capabilities as capability_service
from app.services.strategy import goals as goal_service
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import pdca as pdca_service
from app.services.strategy import service as strategy_service
from app.web.deps import api_require, require

# Routers take these same aliases, so the permission is checked once per request.
RecorderDep = Annotated[Actor, Depends(require(Permission.record_measurements))]
ApiRecorderDep = Annotated[Actor, Depends(api_require(Permission.record_measurements))]
TaskEditorDep = Annotated[Actor, Depends(require(Permission.update_tasks))]


def strategy_by_id(session: SessionDep, strategy_id: int) -> Strategy:
    return strategy_service.get(session=session, strategy_id=strategy_id)


StrategyById = Annotated[Strategy, Depends(strategy_by_id)]


def advantage_by_id(session: SessionDep, advantage_id: int) -> CompetitiveAdvantage:
    return strategy_service.get_advantage(session=session, advantage_id=advantage_id)


AdvantageById = Annotated[CompetitiveAdvantage, Depends(advantage_by_id)]


def capability_by_id(session: SessionDep, capability_id: int) -> Capability:
    return capability_service.get(session=session, capability_id=capability_id)


CapabilityById = Annotated[Capability, Depends(capability_by_id)]


def goal_by_id(session: SessionDep, goal_id: int) -> Goal:
    return goal_service.get(session=session, goal_id=goal_id)


GoalById = Annotated[Goal, Depends(goal_by_id)]


def initiative_by_id(session: SessionDep, initiative_id: int) -> Initiative:
    return initiative_service.get(session=session, initiative_id=initiative_id)


InitiativeById = Annotated[Initiative, Depends(initiative_by_id)]


def cycle_by_id(session: SessionDep, cycle_id: int) -> PdcaCycle:
    return pdca_service.get(session=session, cycle_id=cycle_id)


CycleById = Annotated[PdcaCycle, Depends(cycle_by_id)]


def goal_owners(session: Session, goal: Goal) -> tuple[int | None, int | None]:
    """Who owns a goal's values: the goal's owner and its capability's."""
    capability = session.get(Capability, goal.capability_id)
    return goal.owner_id, capability.owner_id if capability else None


def _recordable(session: Session, actor: Actor, goal_id: int) -> Goal:
    goal = goal_service.get(session=session, goal_id=goal_id)
    actor.require_owner(*goal_owners(session, goal))
    return goal


def recordable_goal(session: SessionDep, actor: RecorderDep, goal_id: int) -> Goal:
    """The goal, for the owner of it or of its capability, or an overseer."""
    return _recordable(session, actor, goal_id)


RecordableGoal = Annotated[Goal, Depends(recordable_goal)]


def api_recordable_goal(session: SessionDep, actor: ApiRecorderDep, goal_id: int) -> Goal:
    """`RecordableGoal` for the token-authenticated API."""
    return _recordable(session, actor, goal_id)


ApiRecordableGoal = Annotated[Goal, Depends(api_recordable_goal)]


def correctable_measurement(
    session: SessionDep, actor: RecorderDep, measurement_id: int
) -> Measurement:
    """The measurement, for whoever may record its goal's values."""
    measurement = goal_service.get_measurement(session=session, measurement_id=measurement_id)
    _recordable(session, actor, measurement.goal_id)
    return measurement


CorrectableMeasurement = Annotated[Measurement, Depends(correctable_measurement)]


def updatable_task(session: SessionDep, actor: TaskEditorDep, task_id: int) -> Task:
    """The task, for the owner of it, of its initiative or of its capability, or an overseer."""
    task = initiative_service.get_task(session=session, task_id=task_id)
    initiative = initiative_service.get(session=session, initiative_id=task.initiative_id)
    capability = capability_service.get(session=session, capability_id=initiative.capability_id)
    actor.require_owner(task.owner_id, initiative.owner_id, capability.owner_id)
    return task


UpdatableTask = Annotated[Task, Depends(updatable_task)]
