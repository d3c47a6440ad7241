"""Management reviews (管理评审): the input package assembled from the data and frozen when
the review is held, minutes, decisions, output actions; the chair's sign-off locks it."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 8000


class ReviewStatus(StrEnum):
    planned = "planned"
    held = "held"
    signed = "signed"


class ReviewActionStatus(StrEnum):
    open = "open"
    done = "done"
    verified = "verified"
    cancelled = "cancelled"


OPEN_REVIEW_ACTION_STATUSES = (ReviewActionStatus.open, ReviewActionStatus.done)


class ManagementReviewBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    planned_on: date
    chair_id: int = Field(foreign_key="user_account.id", index=True)
    location: str = Field(default="", max_length=TITLE_MAX)
    cycle_id: int | None = Field(default=None, foreign_key="pdca_cycle.id")


class ManagementReview(ManagementReviewBase, table=True):
    __tablename__ = "management_review"
    id: int | None = Field(default=None, primary_key=True)
    status: ReviewStatus = Field(default=ReviewStatus.planned, max_length=16, index=True)
    held_on: date | None = None
    minutes: str = Field(default="", max_length=TEXT_MAX)
    decisions: str = Field(default="", max_length=TEXT_MAX)
    # The input package as it stood when the review was held; never recomputed afterwards.
    inputs: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    inputs_frozen_at: datetime | None = utc_field(default=None)
    signed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    signed_at: datetime | None = utc_field(default=None)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class ManagementReviewCreate(ManagementReviewBase):
    pass


class ReviewAttendee(SQLModel, table=True):
    __tablename__ = "review_attendee"
    review_id: int = Field(foreign_key="management_review.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, index=True)


class ReviewActionBase(SQLModel):
    description: str = Field(min_length=1, max_length=TEXT_MAX)
    owner_id: int = Field(foreign_key="user_account.id", index=True)
    due_date: date = Field(index=True)


class ReviewAction(ReviewActionBase, table=True):
    """An output of a review (改进措施); open ones feed the next review's inputs."""

    __tablename__ = "review_action"
    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="management_review.id", index=True, ondelete="CASCADE")
    status: ReviewActionStatus = Field(default=ReviewActionStatus.open, max_length=16, index=True)
    done_on: date | None = None
    # Who reported it done: they may not also verify it (four eyes, like the owner).
    done_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    verified_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    verified_at: datetime | None = utc_field(default=None)
    verification_note: str = Field(default="", max_length=TEXT_MAX)
    created_at: datetime = utc_field()


class ReviewActionCreate(ReviewActionBase):
    pass


class ReviewEvidence(SQLModel, table=True):
    __tablename__ = "review_evidence"
    review_id: int = Field(foreign_key="management_review.id", primary_key=True, ondelete="CASCADE")
    evidence_id: int = Field(
        foreign_key="evidence.id", primary_key=True, index=True, ondelete="CASCADE"
    )
