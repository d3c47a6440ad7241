"""Goals: creating them on a capability, recording and correcting measurements, Excel export."""

from datetime import date
from io import BytesIO
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.i18n import gettext as _
from app.models.capability import Capability
from app.models.goal import Goal, GoalCreate, Measurement
from app.models.user import User
from app.permissions import Permission
from app.services.accounts import users as user_service
from app.services.strategy import goals as goal_service
from app.services.strategy.goal_register import goal_register_xlsx
from app.services.strategy.goals import Reading
from app.web import charts
from app.web.access.strategy import (
    ApiRecordableGoal,
    ApiRecorderDep,
    CapabilityById,
    CorrectableMeasurement,
    GoalById,
    RecordableGoal,
    RecorderDep,
    goal_owners,
)
from app.web.capability_page import detail_response
from app.web.deps import ApiActor, CurrentActor, Now, PageDep, require
from app.web.forms import form_values, submit
from app.web.http import json_answer, json_page, redirect, toast_header
from app.web.rendering import render

router = APIRouter(tags=["goals"], include_in_schema=False)
api_router = APIRouter(tags=["goals"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_capabilities))]
GOAL_FRAGMENTS = {"measurements": "measurements"}


class ReadingForm(BaseModel):
    period: date
    value: float
    note: str = Field(default="", max_length=4000)


class CorrectionForm(BaseModel):
    value: float
    note: str = Field(default="", max_length=4000)


@router.post("/capabilities/{capability_id:int}/goals")
async def create(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        GoalCreate,
        {**values, "capability_id": capability.id},
        lambda data: goal_service.create(session=session, now=now, actor_id=actor.id, data=data),
    )
    if result is None:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            capability,
            status,
            goal_values=values,
            goal_errors=errors,
            open_goal_form=True,
        )
    session.commit()
    return redirect(request, f"/capabilities/{capability.id}", toast=_("Goal added."))


def _page(
    request: Request,
    session: SessionDep,
    now: Now,
    goal: Goal,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    assert goal.id is not None
    series = goal_service.current_series(session=session, goal_ids=[goal.id])[goal.id]
    history = goal_service.history(session=session, goal_id=goal.id)
    recorders = {m.recorded_by_id for m in history if m.recorded_by_id}
    names = user_service.names_by_id(session=session, user_ids=recorders)
    context = {
        "goal": goal,
        "capability": session.get(Capability, goal.capability_id),
        "owner": session.get(User, goal.owner_id) if goal.owner_id else None,
        "assessment": goal_service.assessments(
            session=session, goals=[goal], today=local_date(now)
        )[goal.id],
        "trend": charts.goal_trend(goal, series),
        "table": charts.trajectory_table(goal, series),
        "history": history,
        "names": names,
        "values": {"period": local_date(now).replace(day=1).isoformat()},
        "errors": {},
        "may_record": actor_may_record(request, goal, goal_owners(session, goal)),
        "edit_values": goal.model_dump(mode="json"),
        "edit_errors": {},
        "owner_options": user_service.options(session=session),
        **extra,
    }
    return render(
        request, "goals/detail.html", context, fragments=GOAL_FRAGMENTS, status_code=status_code
    )


def actor_may_record(request: Request, goal: Goal, owners: tuple[int | None, int | None]) -> bool:
    actor: Actor | None = getattr(request.state, "actor", None)
    return bool(actor and actor.can(Permission.record_measurements) and actor.may_touch(*owners))


@router.get("/goals/export.xlsx")
def export(session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    """The goal register with every measurement, as an Excel workbook."""
    buffer = BytesIO()
    goal_register_xlsx(session=session, today=local_date(now)).save(buffer)
    filename = f"goal-register-{local_date(now).isoformat()}.xlsx"
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/goals/{goal_id:int}")
def detail(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, goal: GoalById
) -> Response:
    return _page(request, session, now, goal)


@router.post("/goals/{goal_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, goal: GoalById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        GoalCreate,
        {**values, "capability_id": goal.capability_id},
        lambda data: goal_service.update(
            session=session, now=now, actor_id=actor.id, goal=goal, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(request, session, now, goal, status, edit_values=values, edit_errors=errors)
    session.commit()
    return redirect(request, f"/goals/{goal.id}", toast=_("Changes saved."))


@router.post("/goals/{goal_id:int}/measurements")
async def record(
    request: Request, session: SessionDep, now: Now, actor: RecorderDep, goal: RecordableGoal
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        ReadingForm,
        values,
        lambda data: goal_service.record(
            session=session,
            now=now,
            actor_id=actor.id,
            goal=goal,
            reading=Reading(data.period, data.value, data.note),
        ),
    )
    if result is None:
        session.rollback()
        return _page(request, session, now, goal, status, values=values, errors=errors)
    session.commit()
    response = _page(request, session, now, goal)
    response.headers.update(toast_header(_("Value recorded.")))
    return response


@router.post("/measurements/{measurement_id:int}/correct")
async def correct(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: RecorderDep,
    measurement: CorrectableMeasurement,
) -> Response:
    goal = goal_service.get(session=session, goal_id=measurement.goal_id)
    values = form_values(await request.form())
    result, errors, status = submit(
        CorrectionForm,
        values,
        lambda data: goal_service.correct(
            session=session,
            now=now,
            actor_id=actor.id,
            measurement=measurement,
            value=data.value,
            note=data.note,
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request,
            session,
            now,
            goal,
            status,
            correcting=measurement.id,
            correction_values=values,
            correction_errors=errors,
        )
    session.commit()
    return redirect(
        request,
        f"/goals/{goal.id}",
        toast=_("Value corrected; the old value stays in the history."),
    )


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/goals",
    response_model=dict[str, Any],
    summary="Goals with their status by the documented rule, paginated",
)
def api_list(
    session: SessionDep, now: Now, actor: ApiActor, page: PageDep, capability: int | None = None
) -> Response:
    conditions = [] if capability is None else [col(Goal.capability_id) == capability]
    goals = list(
        session.exec(
            select(Goal)
            .where(*conditions)
            .order_by(col(Goal.id))
            .offset(page.offset)
            .limit(page.size)
        ).all()
    )
    # A page that is not full is the last one and tells the total without counting.
    total = (
        page.offset + len(goals)
        if goals and len(goals) < page.size
        else session.exec(select(func.count()).select_from(Goal).where(*conditions)).one()
    )
    # One query for the latest values of the whole page, not one per goal.
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    return json_page(
        page,
        total,
        [{**g.model_dump(mode="json"), "status": assessments[g.id or 0].status} for g in goals],
    )


@api_router.get(
    "/goals/{goal_id:int}",
    response_model=dict[str, Any],
    summary="One goal with the values in force",
)
def api_detail(
    session: SessionDep, now: Now, actor: ApiActor, goal: GoalById, goal_id: int
) -> Response:
    series = goal_service.current_series(session=session, goal_ids=[goal_id])[goal_id]
    assessment = goal_service.assessments(session=session, goals=[goal], today=local_date(now))[
        goal_id
    ]
    return json_answer(
        {
            **goal.model_dump(mode="json"),
            "status": assessment.status,
            "measurements": [m.model_dump(mode="json") for m in series],
        }
    )


@api_router.post(
    "/goals/{goal_id:int}/measurements", status_code=201, summary="Record a value for a period"
)
def api_record(
    session: SessionDep,
    now: Now,
    actor: ApiRecorderDep,
    goal: ApiRecordableGoal,
    data: ReadingForm,
) -> dict[str, Any]:
    measurement: Measurement = goal_service.record(
        session=session,
        now=now,
        actor_id=actor.id,
        goal=goal,
        reading=Reading(data.period, data.value, data.note),
    )
    session.commit()
    return measurement.model_dump(mode="json")
