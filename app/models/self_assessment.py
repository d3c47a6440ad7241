"""Self-assessments: the enterprise grading itself against a framework, and shared view links."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field
from app.models.certification import TEXT_MAX


class DevelopmentStage(StrEnum):
    """GB/T 23020 development stages (发展阶段)."""

    starting = "starting"  # 起步建设
    single = "single"  # 单项覆盖
    integration = "integration"  # 集成提升
    innovation = "innovation"  # 创新突破


class AssessmentView(StrEnum):
    """The six views of the GB/T 23020 assessment (评估视角)."""

    foundation = "foundation"  # 基础建设
    application = "application"  # 单项应用
    integration = "integration"  # 综合集成
    collaboration = "collaboration"  # 协同与创新
    competitiveness = "competitiveness"  # 竞争力
    benefits = "benefits"  # 经济和社会效益


class SelfAssessmentBase(SQLModel):
    year: int = Field(ge=2000, le=2100)
    overall_score: float = Field(ge=0, le=100)
    stage: DevelopmentStage | None = Field(default=None, max_length=16)
    foundation: float | None = Field(default=None, ge=0, le=100)
    application: float | None = Field(default=None, ge=0, le=100)
    integration: float | None = Field(default=None, ge=0, le=100)
    collaboration: float | None = Field(default=None, ge=0, le=100)
    competitiveness: float | None = Field(default=None, ge=0, le=100)
    benefits: float | None = Field(default=None, ge=0, le=100)
    notes: str = Field(default="", max_length=TEXT_MAX)


class SelfAssessment(SelfAssessmentBase, table=True):
    """One year's 评估与诊断 result, as reported by the national platform or entered by hand."""

    __tablename__ = "self_assessment"
    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(ge=2000, le=2100, unique=True)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class SelfAssessmentCreate(SelfAssessmentBase):
    pass


class ViewLink(SQLModel, table=True):
    """A weak view followed up by a capability or a goal."""

    __tablename__ = "assessment_view_link"
    __table_args__ = (UniqueConstraint("view", "capability_id", "goal_id"),)
    id: int | None = Field(default=None, primary_key=True)
    view: AssessmentView = Field(max_length=16, index=True)
    capability_id: int | None = Field(
        default=None, foreign_key="capability.id", index=True, ondelete="CASCADE"
    )
    goal_id: int | None = Field(default=None, foreign_key="goal.id", index=True, ondelete="CASCADE")
