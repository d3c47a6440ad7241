"""The requirements catalogue: frameworks, requirement trees, and each requirement's status."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TEXT_MAX = 4000


class Confidence(StrEnum):
    """How sure we are of a clause's number and title (domain.md §0)."""

    verified = "verified"
    probable = "probable"
    unverified = "unverified"


class ImplementationStatus(StrEnum):
    not_started = "not_started"
    planned = "planned"
    in_progress = "in_progress"
    implemented = "implemented"


class Framework(SQLModel, table=True):
    __tablename__ = "framework"
    __table_args__ = (UniqueConstraint("code", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32)
    version: str = Field(max_length=16)
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    description_zh: str = Field(default="", max_length=TEXT_MAX)
    description_en: str = Field(default="", max_length=TEXT_MAX)


class Requirement(SQLModel, table=True):
    __tablename__ = "requirement"
    __table_args__ = (UniqueConstraint("framework_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    framework_id: int = Field(foreign_key="framework.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="requirement.id", index=True)
    # The chapter a requirement sits in (None for chapters), so roll-ups are one GROUP BY.
    chapter_id: int | None = Field(default=None, foreign_key="requirement.id", index=True)
    # The stable key survives renumbering; clause numbers are editable facts.
    key: str = Field(max_length=64)
    clause: str = Field(max_length=16)
    position: int
    depth: int
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    summary_zh: str = Field(default="", max_length=TEXT_MAX)
    summary_en: str = Field(default="", max_length=TEXT_MAX)
    guidance_zh: str = Field(default="", max_length=TEXT_MAX)
    guidance_en: str = Field(default="", max_length=TEXT_MAX)
    expected_evidence_zh: list[str] = Field(default_factory=list, sa_type=JSON)
    expected_evidence_en: list[str] = Field(default_factory=list, sa_type=JSON)
    confidence: Confidence = Field(max_length=16)
    confidence_note_zh: str = Field(default="", max_length=TEXT_MAX)
    confidence_note_en: str = Field(default="", max_length=TEXT_MAX)


class RequirementStatus(SQLModel, table=True):
    """How this organization stands on one requirement (one row per requirement)."""

    __tablename__ = "requirement_status"
    id: int | None = Field(default=None, primary_key=True)
    requirement_id: int = Field(foreign_key="requirement.id", unique=True, ondelete="CASCADE")
    applicable: bool = True
    exclusion_reason: str = Field(default="", max_length=TEXT_MAX)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    implementation_status: ImplementationStatus = Field(
        default=ImplementationStatus.not_started, max_length=16, index=True
    )
    notes: str = Field(default="", max_length=TEXT_MAX)
    updated_at: datetime | None = utc_field(default=None)
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")


class RequirementStatusUpdate(SQLModel):
    applicable: bool = True
    exclusion_reason: str = Field(default="", max_length=TEXT_MAX)
    owner_id: int | None = None
    department_id: int | None = None
    implementation_status: ImplementationStatus = ImplementationStatus.not_started
    notes: str = Field(default="", max_length=TEXT_MAX)


class RequirementStatusPublic(SQLModel):
    applicable: bool
    exclusion_reason: str
    owner_id: int | None
    department_id: int | None
    implementation_status: ImplementationStatus
    notes: str
    updated_at: datetime | None


class RequirementPublic(SQLModel):
    id: int
    key: str
    clause: str
    framework_id: int
    parent_id: int | None
    depth: int
    title_zh: str
    title_en: str
    summary_zh: str
    summary_en: str
    guidance_zh: str
    guidance_en: str
    expected_evidence_zh: list[str]
    expected_evidence_en: list[str]
    confidence: Confidence
    confidence_note_zh: str
    confidence_note_en: str
    status: RequirementStatusPublic


class FrameworkPublic(SQLModel):
    id: int
    code: str
    version: str
    title_zh: str
    title_en: str
