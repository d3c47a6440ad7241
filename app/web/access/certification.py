"""Certification records and their milestones by path id (anyone signed in may read them;
changing them is a permission, checked by the route)."""

from typing import Annotated

from fastapi import Depends

from app.db import SessionDep
from app.models.certification import Certification, Milestone
from app.services.certification import service as certification_service


def certification_by_id(session: SessionDep, certification_id: int) -> Certification:
    return certification_service.get(session=session, certification_id=certification_id)


CertificationById = Annotated[Certification, Depends(certification_by_id)]


def milestone_by_id(session: SessionDep, milestone_id: int) -> Milestone:
    return certification_service.get_milestone(session=session, milestone_id=milestone_id)


MilestoneById = Annotated[Milestone, Depends(milestone_by_id)]
