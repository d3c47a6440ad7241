"""Self-assessment years and weak-view links by their path id (anyone signed in may read
them; changing them is a permission, checked by the route)."""

from typing import Annotated

from fastapi import Depends

from app.db import SessionDep
from app.models.self_assessment import SelfAssessment, ViewLink
from app.services.self_assessments import service as assessment_service


def assessment_by_id(session: SessionDep, assessment_id: int) -> SelfAssessment:
    return assessment_service.get(session=session, assessment_id=assessment_id)


AssessmentById = Annotated[SelfAssessment, Depends(assessment_by_id)]


def view_link_by_id(session: SessionDep, link_id: int) -> ViewLink:
    return assessment_service.get_link(session=session, link_id=link_id)


ViewLinkById = Annotated[ViewLink, Depends(view_link_by_id)]
