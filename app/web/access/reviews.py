"""Management reviews and their actions by their path id, and who may update an action."""

from typing import Annotated

from fastapi import Depends

from app.actor import Actor
from app.db import SessionDep
from app.models.review import ManagementReview, ReviewAction
from app.permissions import Permission
from app.services.reviews import service as review_service
from app.web.deps import require

# Routers take this same alias, so the permission is checked once per request.
ActionWorkerDep = Annotated[Actor, Depends(require(Permission.update_review_actions))]


def review_by_id(session: SessionDep, review_id: int) -> ManagementReview:
    return review_service.get(session=session, review_id=review_id)


ReviewById = Annotated[ManagementReview, Depends(review_by_id)]


def review_action_by_id(
    session: SessionDep, review: ReviewById, review_action_id: int
) -> ReviewAction:
    """An action of the review in the path; another review's action is not found."""
    assert review.id is not None
    return review_service.get_action(
        session=session, review_id=review.id, action_id=review_action_id
    )


ReviewActionById = Annotated[ReviewAction, Depends(review_action_by_id)]


def updatable_review_action(
    session: SessionDep, actor: ActionWorkerDep, review: ReviewById, review_action_id: int
) -> ReviewAction:
    """The review's action, for its owner or an overseer."""
    action = review_action_by_id(session, review, review_action_id)
    actor.require_owner(action.owner_id)
    return action


UpdatableReviewAction = Annotated[ReviewAction, Depends(updatable_review_action)]
