"""Certification (评定): the certificate's record, its milestones, the yearly self-assessment,
the submission dossier and the assessors' read-only access."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class CertificationStatus(StrEnum):
    preparing = "preparing"  # 贯标: getting ready to apply
    assessing = "assessing"  # applied; the body's assessment is under way
    certified = "certified"
    suspended = "suspended"
    withdrawn = "withdrawn"
    expired = "expired"


class CertificationGrade(SQLModel, table=True):
    """The grades a certificate can carry (A, AA, AAA, …), as a configurable list."""

    __tablename__ = "certification_grade"
    code: str = Field(primary_key=True, max_length=16)
    position: int = 0


class CertificationBase(SQLModel):
    body: str = Field(default="", max_length=TITLE_MAX)  # the assessment body (评定机构)
    scope: str = Field(default="", max_length=TEXT_MAX)
    grade_sought: str | None = Field(default=None, max_length=16)
    grade_awarded: str | None = Field(default=None, max_length=16)
    certificate_number: str = Field(default="", max_length=64)
    issued_on: date | None = None
    expires_on: date | None = None


class Certification(CertificationBase, table=True):
    __tablename__ = "certification"
    id: int | None = Field(default=None, primary_key=True)
    status: CertificationStatus = Field(default=CertificationStatus.preparing, max_length=16)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class CertificationCreate(CertificationBase):
    pass


class MilestoneKind(StrEnum):
    application = "application"  # 评定申请
    acceptance = "acceptance"  # 受理
    stage1 = "stage1"  # 第一阶段审核
    stage2 = "stage2"  # 第二阶段审核
    nc_correction = "nc_correction"  # 不符合项整改期限
    conclusion = "conclusion"  # 评定结论
    compliance_review = "compliance_review"  # 合规性审查
    public_notice = "public_notice"  # 公示
    certificate = "certificate"  # 发证
    surveillance = "surveillance"  # 监督审核 (yearly)
    reassessment = "reassessment"  # 再评定 (before expiry)


class Milestone(SQLModel, table=True):
    __tablename__ = "certification_milestone"
    id: int | None = Field(default=None, primary_key=True)
    certification_id: int = Field(foreign_key="certification.id", index=True, ondelete="CASCADE")
    kind: MilestoneKind = Field(max_length=24)
    sequence: int = 1  # the n-th surveillance audit
    planned_on: date | None = Field(default=None, index=True)
    done_on: date | None = None
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    evidence_id: int | None = Field(default=None, foreign_key="evidence.id")
    notes: str = Field(default="", max_length=TEXT_MAX)


class MilestoneRule(SQLModel, table=True):
    """Days from the milestone before (or, for surveillance and re-assessment, from the
    certificate's issue or expiry) to this one; overrides the built-in defaults."""

    __tablename__ = "milestone_rule"
    kind: MilestoneKind = Field(primary_key=True, max_length=24)
    days: int = Field(ge=-1100, le=1100)


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


class DossierStatus(StrEnum):
    queued = "queued"
    building = "building"
    ready = "ready"
    failed = "failed"


class Dossier(SQLModel, table=True):
    """A submission dossier (ZIP) built in the background. `active` is set while queued or
    building; its unique constraint lets only one build run at a time (NULLs do not collide)."""

    __tablename__ = "dossier"
    id: int | None = Field(default=None, primary_key=True)
    status: DossierStatus = Field(default=DossierStatus.queued, max_length=16)
    active: bool | None = Field(default=True, unique=True)
    requested_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    requested_at: datetime = utc_field()
    started_at: datetime | None = utc_field(default=None)
    # Touched as the build goes on; a build silent for long was interrupted (restart, crash).
    progress_at: datetime | None = utc_field(default=None)
    finished_at: datetime | None = utc_field(default=None)
    total_files: int = 0
    done_files: int = 0
    file_name: str = Field(default="", max_length=255)
    size: int = 0
    sha256: str = Field(default="", max_length=64)
    error: str = Field(default="", max_length=TEXT_MAX)


class AssessorAccess(SQLModel, table=True):
    """A read-only, time-limited link for the assessment body's auditors: the dossier and the
    evidence it names, nothing else. Only the token's hash is stored."""

    __tablename__ = "assessor_access"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(min_length=1, max_length=TITLE_MAX)
    token_hash: str = Field(max_length=64, unique=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(default=None)


class AssessorVisit(SQLModel, table=True):
    """Every request made with an assessor link."""

    __tablename__ = "assessor_visit"
    id: int | None = Field(default=None, primary_key=True)
    access_id: int = Field(foreign_key="assessor_access.id", index=True, ondelete="CASCADE")
    at: datetime = utc_field()
    path: str = Field(max_length=500)
    address: str = Field(default="", max_length=64)
