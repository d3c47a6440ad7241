"""Nonconformities (不符合) and their corrective and preventive actions (CAPA).

Closing takes every action done and a verification, by someone who took no part in the work,
that the actions were effective; "not effective" reopens the nonconformity, history kept.
"""

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class NcSource(StrEnum):
    internal_audit = "internal_audit"
    external_audit = "external_audit"
    management_review = "management_review"
    other = "other"


class NcGrade(StrEnum):
    major = "major"  # 严重不符合
    minor = "minor"  # 一般不符合


class NcStatus(StrEnum):
    open = "open"  # raised; correction and root cause being worked out
    in_progress = "in_progress"  # actions planned and under way
    verification = "verification"  # every action done; effectiveness to be verified
    closed = "closed"


OPEN_NC_STATUSES = (NcStatus.open, NcStatus.in_progress, NcStatus.verification)


class RootCauseMethod(StrEnum):
    five_whys = "five_whys"
    fishbone = "fishbone"
    other = "other"


class ActionKind(StrEnum):
    corrective = "corrective"  # 纠正措施: removes the cause
    preventive = "preventive"  # 预防措施: stops it elsewhere


class ActionStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class Verdict(StrEnum):
    effective = "effective"
    not_effective = "not_effective"


class NonconformityBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)
    source: NcSource = Field(default=NcSource.internal_audit, max_length=24)
    grade: NcGrade = Field(default=NcGrade.minor, max_length=8)
    requirement_id: int | None = Field(default=None, foreign_key="requirement.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    due_date: date | None = None  # defaults from source and grade when left empty


class Nonconformity(NonconformityBase, table=True):
    __tablename__ = "nonconformity"
    id: int | None = Field(default=None, primary_key=True)
    status: NcStatus = Field(default=NcStatus.open, max_length=16, index=True)
    audit_id: int | None = Field(default=None, foreign_key="audit.id", index=True)
    review_id: int | None = Field(default=None, foreign_key="management_review.id", index=True)
    raised_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    raised_on: date
    correction: str = Field(default="", max_length=TEXT_MAX)  # 纠正: the immediate fix
    correction_done_on: date | None = None
    root_cause_method: RootCauseMethod | None = Field(default=None, max_length=16)
    root_cause: str = Field(default="", max_length=TEXT_MAX)
    effectiveness_check_date: date | None = None
    reopened_count: int = 0
    # Who asked for verification: they answer for the work, so they may not verify it.
    verification_requested_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    closed_at: datetime | None = utc_field(default=None)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class NonconformityCreate(NonconformityBase):
    pass


class CorrectiveActionBase(SQLModel):
    kind: ActionKind = Field(default=ActionKind.corrective, max_length=16)
    description: str = Field(min_length=1, max_length=TEXT_MAX)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    due_date: date | None = Field(default=None, index=True)


class CorrectiveAction(CorrectiveActionBase, table=True):
    __tablename__ = "corrective_action"
    id: int | None = Field(default=None, primary_key=True)
    nonconformity_id: int = Field(foreign_key="nonconformity.id", index=True, ondelete="CASCADE")
    status: ActionStatus = Field(default=ActionStatus.open, max_length=16, index=True)
    done_on: date | None = None
    note: str = Field(default="", max_length=TEXT_MAX)
    created_at: datetime = utc_field()


class CorrectiveActionCreate(CorrectiveActionBase):
    pass


class Verification(SQLModel, table=True):
    """One effectiveness check; an ineffective one stays on record after the reopen."""

    __tablename__ = "nc_verification"
    id: int | None = Field(default=None, primary_key=True)
    nonconformity_id: int = Field(foreign_key="nonconformity.id", index=True, ondelete="CASCADE")
    verdict: Verdict = Field(max_length=16)
    notes: str = Field(default="", max_length=TEXT_MAX)
    evidence_id: int | None = Field(default=None, foreign_key="evidence.id")
    verified_by_id: int = Field(foreign_key="user_account.id")
    verified_at: datetime = utc_field()


class NcPart(StrEnum):
    """What someone did on a nonconformity; any of it rules them out as its verifier."""

    owner = "owner"  # owned it, now or before
    action_owner = "action_owner"  # owned one of its actions
    correction = "correction"  # recorded the correction
    root_cause = "root_cause"  # recorded the root cause analysis
    start = "start"  # started the work, or reopened it by reopening an action
    actions = "actions"  # planned an action or changed an action's status
    verification_request = "verification_request"  # vouched for the work by sending it on


class NcParticipant(SQLModel, table=True):
    """Who took which part in a nonconformity, kept for good: the owner field only says who
    owns it now, and a handed-over nonconformity must not look like someone else's work."""

    __tablename__ = "nc_participant"
    nonconformity_id: int = Field(
        foreign_key="nonconformity.id", primary_key=True, ondelete="CASCADE"
    )
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, index=True)
    part: NcPart = Field(primary_key=True, max_length=24)
    since: datetime = utc_field()


class NcDeadline(SQLModel, table=True):
    """Days allowed to clear a nonconformity, per source and grade; overrides the defaults."""

    __tablename__ = "nc_deadline"
    source: NcSource = Field(primary_key=True, max_length=24)
    grade: NcGrade = Field(primary_key=True, max_length=8)
    days: int = Field(ge=1, le=730)


class CorrectiveActionEvidence(SQLModel, table=True):
    __tablename__ = "corrective_action_evidence"
    action_id: int = Field(foreign_key="corrective_action.id", primary_key=True, ondelete="CASCADE")
    evidence_id: int = Field(
        foreign_key="evidence.id", primary_key=True, index=True, ondelete="CASCADE"
    )
