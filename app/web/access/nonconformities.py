"""Nonconformities and their corrective actions by their path id, and who may work on them."""

from typing import Annotated

from fastapi import Depends

from app.actor import Actor
from app.db import SessionDep
from app.models.nonconformity import CorrectiveAction, Nonconformity
from app.permissions import Permission
from app.services.nonconformities import service as nc_service
from app.web.deps import require

# Routers take this same alias, so the permission is checked once per request.
WorkerDep = Annotated[Actor, Depends(require(Permission.work_on_nonconformities))]


def nonconformity_by_id(session: SessionDep, nonconformity_id: int) -> Nonconformity:
    return nc_service.get(session=session, nonconformity_id=nonconformity_id)


NonconformityById = Annotated[Nonconformity, Depends(nonconformity_by_id)]


def workable_nonconformity(
    session: SessionDep, actor: WorkerDep, nonconformity_id: int
) -> Nonconformity:
    """The nonconformity, for its owner or an overseer: the CAPA is the owner's work."""
    nonconformity = nc_service.get(session=session, nonconformity_id=nonconformity_id)
    actor.require_owner(nonconformity.owner_id)
    return nonconformity


WorkableNonconformity = Annotated[Nonconformity, Depends(workable_nonconformity)]


def workable_action(session: SessionDep, actor: WorkerDep, action_id: int) -> CorrectiveAction:
    """The corrective action, for its owner, the nonconformity's owner or an overseer."""
    action = nc_service.get_action(session=session, action_id=action_id)
    nonconformity = nc_service.get(session=session, nonconformity_id=action.nonconformity_id)
    actor.require_owner(action.owner_id, nonconformity.owner_id)
    return action


WorkableAction = Annotated[CorrectiveAction, Depends(workable_action)]
