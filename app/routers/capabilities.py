"""New capabilities: list with the element matrix, detail page, editing, life-cycle stages."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.models.capability import Capability, CapabilityCreate, Grade, Stage
from app.models.initiative import Element
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.requirements import service as requirement_service
from app.services.strategy import capabilities as capability_service
from app.services.strategy import goals as goal_service
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import service as strategy_service
from app.web import charts
from app.web.access.strategy import CapabilityById
from app.web.capability_page import detail_response
from app.web.deps import ApiActor, CurrentActor, Now, require
from app.web.forms import form_values, submit
from app.web.http import json_answer, redirect, toast_header
from app.web.rendering import render

router = APIRouter(prefix="/capabilities", tags=["capabilities"], include_in_schema=False)
api_router = APIRouter(tags=["capabilities"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_capabilities))]


def _choices(session: SessionDep) -> dict[str, Any]:
    return {
        "owner_options": user_service.options(session=session),
        "departments": department_service.as_tree(department_service.get_all(session=session)),
        "advantages": strategy_service.advantages(session=session),
        "clauses": requirement_service.clauses(session=session),
        "grades": list(Grade),
    }


@router.get("")
def list_page(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    capabilities = capability_service.get_all(session=session)
    goals = goal_service.for_capabilities(
        session=session, capability_ids=[c.id for c in capabilities if c.id]
    )
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    by_capability: dict[int, list[Any]] = {}
    for goal in goals:
        by_capability.setdefault(goal.capability_id, []).append(assessments[goal.id or 0].status)
    matrix = capability_service.element_matrix(session=session)
    return render(
        request,
        "capabilities/list.html",
        {
            "capabilities": capabilities,
            "statuses": by_capability,
            "element_rows": capability_service.element_rows(capabilities, matrix),
            "elements": list(Element),
            "heatmap": charts.element_heatmap(capabilities, matrix),
        },
    )


def _form(
    request: Request,
    session: SessionDep,
    capability: Capability | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "capabilities/form.html",
        {"capability": capability, "values": values, "errors": errors, **_choices(session)},
        status_code=status_code,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: ManagerDep) -> Response:
    return _form(request, session, None, {"current_grade": "CL1", "target_grade": "CL2"}, {})


def _values(form: Any) -> dict[str, Any]:
    values = form_values(form, lists=["advantage_ids", "requirement_ids"])
    for name in ("advantage_ids", "requirement_ids"):
        if not all(str(v).isdigit() for v in values[name]):
            raise Invalid(_("Choose one of the offered options."), field=name)
    return values


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: ManagerDep) -> Response:
    values = _values(await request.form())
    result, errors, status = submit(
        CapabilityCreate,
        values,
        lambda data: capability_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, None, values, errors, status)
    session.commit()
    return redirect(request, f"/capabilities/{result.id}", toast=_("Capability created."))


@router.get("/{capability_id:int}")
def detail_page(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, capability: CapabilityById
) -> Response:
    return detail_response(request, session, now, capability)


@router.get("/{capability_id:int}/edit")
def edit_page(
    request: Request,
    session: SessionDep,
    actor: ManagerDep,
    capability: CapabilityById,
    capability_id: int,
) -> Response:
    values = {
        **capability.model_dump(),
        "advantage_ids": [
            str(i)
            for i in capability_service.advantage_ids(session=session, capability_id=capability_id)
        ],
        "requirement_ids": [
            str(r.id)
            for r in capability_service.requirements(session=session, capability_id=capability_id)
        ],
    }
    return _form(request, session, capability, values, {})


@router.post("/{capability_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    values = _values(await request.form())
    result, errors, status = submit(
        CapabilityCreate,
        values,
        lambda data: capability_service.update(
            session=session, now=now, actor_id=actor.id, capability=capability, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, capability, values, errors, status)
    session.commit()
    return redirect(request, f"/capabilities/{capability.id}", toast=_("Changes saved."))


@router.post("/{capability_id:int}/stage")
async def change_stage(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    form = await request.form()
    raw = form.get("stage")
    note = str(form.get("note") or "")[:4000]
    try:
        if raw not in Stage.__members__:
            raise Invalid(_("Choose one of the offered options."), field="stage")
        capability_service.change_stage(
            session=session,
            now=now,
            actor_id=actor.id,
            capability=capability,
            to=Stage(str(raw)),
            note=note,
        )
    except DomainError as exc:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            capability,
            exc.status_code,
            stage_errors={exc.field or "stage": exc.message},
        )
    session.commit()
    response = detail_response(request, session, now, capability)
    response.headers.update(toast_header(_("Stage changed.")))
    return response


@router.post("/{capability_id:int}/archive")
def archive(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    capability_service.archive(session=session, now=now, actor_id=actor.id, capability=capability)
    session.commit()
    return redirect(request, "/capabilities", toast=_("Capability archived."))


@router.post("/{capability_id:int}/delete")
def delete(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    capability_service.delete_or_refuse(
        session=session, now=now, actor_id=actor.id, capability=capability
    )
    session.commit()
    return redirect(request, "/capabilities", toast=_("Capability deleted."))


@api_router.get("/capabilities", summary="Capabilities with their goals' status")
def api_list(session: SessionDep, now: Now, actor: ApiActor) -> list[dict[str, Any]]:
    capabilities = capability_service.get_all(session=session)
    goals = goal_service.for_capabilities(
        session=session, capability_ids=[c.id for c in capabilities if c.id]
    )
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    return [
        {
            **c.model_dump(mode="json"),
            "goals": [
                {"id": g.id, "indicator": g.indicator, "status": assessments[g.id or 0].status}
                for g in goals
                if g.capability_id == c.id
            ],
        }
        for c in capabilities
    ]


@api_router.get(
    "/capabilities/{capability_id:int}", response_model=dict[str, Any], summary="One capability"
)
def api_detail(
    session: SessionDep, actor: ApiActor, capability: CapabilityById, capability_id: int
) -> Response:
    return json_answer(
        {
            **capability.model_dump(mode="json"),
            "advantage_ids": capability_service.advantage_ids(
                session=session, capability_id=capability_id
            ),
            "requirement_keys": [
                r.key
                for r in capability_service.requirements(
                    session=session, capability_id=capability_id
                )
            ],
            "initiatives": [
                {**i.model_dump(mode="json"), "tasks": [t.model_dump(mode="json") for t in tasks]}
                for i, tasks in initiative_service.for_capability(
                    session=session, capability_id=capability_id
                )
            ],
            "stage_history": [
                h.model_dump(mode="json")
                for h in capability_service.stage_history(
                    session=session, capability_id=capability_id
                )
            ],
        }
    )
