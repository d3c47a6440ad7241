"""A requirement by its path id, with its status row (anyone signed in may read it; changing
the status is a permission, checked by the route)."""

from typing import Annotated

from fastapi import Depends

from app.db import SessionDep
from app.models.requirement import Requirement, RequirementStatus
from app.services.requirements import service as requirement_service


def requirement_by_id(
    session: SessionDep, requirement_id: int
) -> tuple[Requirement, RequirementStatus]:
    return requirement_service.get(session=session, requirement_id=requirement_id)


RequirementById = Annotated[tuple[Requirement, RequirementStatus], Depends(requirement_by_id)]
