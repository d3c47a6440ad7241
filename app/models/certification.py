"""Certification (评定): the certificate's record, its milestones and the assessors' read-only
access. Self-assessments and dossiers have their own modules."""

from datetime import date, datetime
from enum import StrEnum

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
