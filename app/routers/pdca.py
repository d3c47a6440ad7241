"""The PDCA cycle of the management system: phases, closing, carried work."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.models.pdca import NEXT_PHASE, Phase
from app.permissions import Permission
from app.services.strategy import pdca as pdca_service
from app.web.access.strategy import CycleById
from app.web.deps import ApiActor, CurrentActor, Now, require
from app.web.http import redirect
from app.web.rendering import render

router = APIRouter(prefix="/pdca", tags=["pdca"], include_in_schema=False)
api_router = APIRouter(tags=["pdca"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_pdca))]


def _page(request: Request, session: SessionDep, status_code: int = 200, **extra: Any) -> Response:
    cycles = pdca_service.recent(session=session)
    current = pdca_service.current(session=session)
    context = {
        "cycles": cycles,
        "current": current,
        "next_phase": NEXT_PHASE.get(Phase(current.phase)) if current else None,
        "changes": pdca_service.changes(
            session=session, cycle_ids=[c.id for c in cycles[:5] if c.id]
        ),
        "carried": pdca_service.carried_tasks(session=session, cycle_id=current.id)
        if current and current.id
        else [],
        "phases": [Phase.plan, Phase.do, Phase.check, Phase.act],
        "errors": {},
        "values": {},
        **extra,
    }
    return render(request, "pdca/page.html", context, status_code=status_code)


@router.get("")
def page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return _page(request, session)


@router.post("")
def start(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    period: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        pdca_service.start(session=session, now=now, actor_id=actor.id, period=period)
    except DomainError as exc:
        session.rollback()
        return _page(
            request,
            session,
            exc.status_code,
            errors={exc.field or "__all__": exc.message},
            values={"period": period},
        )
    session.commit()
    return redirect(request, "/pdca", toast=_("PDCA cycle started."))


@router.post("/{cycle_id:int}/advance")
def advance(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    cycle: CycleById,
    phase: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if phase not in Phase.__members__:
        raise Invalid(_("Choose one of the offered options."), field="phase")
    pdca_service.advance(
        session=session, now=now, actor_id=actor.id, cycle=cycle, to=Phase(phase), note=note
    )
    session.commit()
    return redirect(request, "/pdca", toast=_("Phase changed."))


@router.post("/{cycle_id:int}/close")
def close(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    cycle: CycleById,
    next_period: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        _successor, carried = pdca_service.close(
            session=session,
            now=now,
            actor_id=actor.id,
            cycle=cycle,
            next_period=next_period,
            note=note,
        )
    except DomainError as exc:
        session.rollback()
        return _page(
            request,
            session,
            exc.status_code,
            errors={exc.field or "__all__": exc.message},
            values={"next_period": next_period},
        )
    session.commit()
    return redirect(
        request,
        "/pdca",
        toast=_("Cycle closed; %(n)d open tasks carried into the next one.", n=carried),
    )


@api_router.get("/pdca/current", summary="The open PDCA cycle of the management system")
def api_current(session: SessionDep, actor: ApiActor) -> dict[str, Any] | None:
    current = pdca_service.current(session=session)
    return current.model_dump(mode="json") if current else None
