"""Initiatives and their four-element tasks, edited on the capability page."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import Invalid
from app.i18n import gettext as _
from app.models.initiative import InitiativeCreate, TaskCreate, TaskStatus
from app.permissions import Permission
from app.services.strategy import capabilities as capability_service
from app.services.strategy import initiatives as initiative_service
from app.web.access.strategy import CapabilityById, InitiativeById, TaskEditorDep, UpdatableTask
from app.web.capability_page import detail_response
from app.web.deps import Now, require
from app.web.forms import form_values, submit
from app.web.http import toast_header

router = APIRouter(tags=["initiatives"], include_in_schema=False)

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_capabilities))]


def _saved(response: Response, message: str) -> Response:
    response.headers.update(toast_header(message))
    return response


@router.post("/capabilities/{capability_id:int}/initiatives")
async def create_initiative(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, capability: CapabilityById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        InitiativeCreate,
        {**values, "capability_id": capability.id},
        lambda data: initiative_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            capability,
            status,
            initiative_errors=errors,
            initiative_values=values,
        )
    session.commit()
    return _saved(detail_response(request, session, now, capability), _("Initiative added."))


@router.post("/initiatives/{initiative_id:int}/tasks")
async def create_task(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, initiative: InitiativeById
) -> Response:
    capability = capability_service.get(session=session, capability_id=initiative.capability_id)
    values = form_values(await request.form())
    result, errors, status = submit(
        TaskCreate,
        {**values, "initiative_id": initiative.id},
        lambda data: initiative_service.create_task(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return detail_response(
            request,
            session,
            now,
            capability,
            status,
            task_errors={initiative.id: errors},
            task_values={initiative.id: values},
        )
    session.commit()
    return _saved(detail_response(request, session, now, capability), _("Task added."))


@router.post("/tasks/{task_id:int}/status")
async def set_status(
    request: Request, session: SessionDep, now: Now, actor: TaskEditorDep, task: UpdatableTask
) -> Response:
    initiative = initiative_service.get(session=session, initiative_id=task.initiative_id)
    capability = capability_service.get(session=session, capability_id=initiative.capability_id)
    raw = (await request.form()).get("status")
    if raw not in TaskStatus.__members__:
        raise Invalid(_("Choose one of the offered options."), field="status")
    initiative_service.set_task_status(
        session=session, now=now, actor_id=actor.id, task=task, status=TaskStatus(str(raw))
    )
    session.commit()
    return _saved(detail_response(request, session, now, capability), _("Task updated."))
