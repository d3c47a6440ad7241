"""New capabilities (新型能力): grade, life-cycle stage, links to advantages and requirements."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class Grade(StrEnum):
    """Capability grade CL1–CL5 (初始级 … 生态级)."""

    CL1 = "CL1"
    CL2 = "CL2"
    CL3 = "CL3"
    CL4 = "CL4"
    CL5 = "CL5"


class Stage(StrEnum):
    """Life cycle: identify → plan → build → operate stably → adjust dynamically."""

    identified = "identified"  # 识别
    planned = "planned"  # 策划
    building = "building"  # 打造
    operating = "operating"  # 稳定运行
    adjusting = "adjusting"  # 动态调整


# A capability moves one step forward; adjustment may send it back to planning or, once
# the adjustment is done, to stable operation again.
STAGE_TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.identified: frozenset({Stage.planned}),
    Stage.planned: frozenset({Stage.building}),
    Stage.building: frozenset({Stage.operating}),
    Stage.operating: frozenset({Stage.adjusting}),
    Stage.adjusting: frozenset({Stage.planned, Stage.operating}),
}


class CapabilityBase(SQLModel):
    code: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    current_grade: Grade = Field(default=Grade.CL1, max_length=4)
    target_grade: Grade = Field(default=Grade.CL2, max_length=4)


class Capability(CapabilityBase, table=True):
    __tablename__ = "capability"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    stage: Stage = Field(default=Stage.identified, max_length=16, index=True)
    archived_at: datetime | None = utc_field(default=None)
    created_at: datetime = utc_field()


class CapabilityCreate(CapabilityBase):
    advantage_ids: list[int] = Field(default_factory=list)
    requirement_ids: list[int] = Field(default_factory=list)


class CapabilityAdvantage(SQLModel, table=True):
    __tablename__ = "capability_advantage"
    capability_id: int = Field(foreign_key="capability.id", primary_key=True, ondelete="CASCADE")
    advantage_id: int = Field(
        foreign_key="competitive_advantage.id", primary_key=True, ondelete="CASCADE", index=True
    )


class CapabilityRequirement(SQLModel, table=True):
    __tablename__ = "capability_requirement"
    capability_id: int = Field(foreign_key="capability.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(
        foreign_key="requirement.id", primary_key=True, ondelete="CASCADE", index=True
    )


class StageChange(SQLModel, table=True):
    """A dated, attributed step in a capability's life cycle (append-only)."""

    __tablename__ = "capability_stage_change"
    id: int | None = Field(default=None, primary_key=True)
    capability_id: int = Field(foreign_key="capability.id", index=True)
    from_stage: Stage | None = Field(default=None, max_length=16)
    to_stage: Stage = Field(max_length=16)
    at: datetime = utc_field()
    by_id: int | None = Field(default=None, foreign_key="user_account.id")
    note: str = Field(default="", max_length=TEXT_MAX)
