"""Internal and external audits (审核): programme, scope, team, checklist, findings.

A checklist item is one requirement in one department; the evidence revisions the auditor
looked at are pinned, so the record still shows what was seen after the document changes.
"""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class AuditKind(StrEnum):
    internal = "internal"  # 内部审核
    stage1 = "stage1"  # 第一阶段审核 (external)
    stage2 = "stage2"  # 第二阶段审核 (external)
    surveillance = "surveillance"  # 监督审核 (external)
    reassessment = "reassessment"  # 再评定 (external)


class AuditStatus(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    reporting = "reporting"
    closed = "closed"


# Audits move strictly forward through these states.
NEXT_AUDIT_STATUS: dict[AuditStatus, AuditStatus] = {
    AuditStatus.planned: AuditStatus.in_progress,
    AuditStatus.in_progress: AuditStatus.reporting,
    AuditStatus.reporting: AuditStatus.closed,
}


class ChecklistResult(StrEnum):
    not_audited = "not_audited"
    conforming = "conforming"
    major_nc = "major_nc"  # 严重不符合
    minor_nc = "minor_nc"  # 一般不符合
    observation = "observation"  # 观察项


NONCONFORMING_RESULTS = (ChecklistResult.major_nc, ChecklistResult.minor_nc)
FINDING_RESULTS = (*NONCONFORMING_RESULTS, ChecklistResult.observation)


class AuditProgrammeBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    year: int = Field(ge=2000, le=2100)
    objectives: str = Field(default="", max_length=TEXT_MAX)
    cycle_id: int | None = Field(default=None, foreign_key="pdca_cycle.id")


class AuditProgramme(AuditProgrammeBase, table=True):
    """The audits planned for a year or PDCA cycle (审核方案)."""

    __tablename__ = "audit_programme"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field()


class AuditProgrammeCreate(AuditProgrammeBase):
    pass


class AuditBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    kind: AuditKind = Field(default=AuditKind.internal, max_length=16)
    programme_id: int | None = Field(default=None, foreign_key="audit_programme.id", index=True)
    criteria: str = Field(default="", max_length=TEXT_MAX)
    lead_auditor_id: int = Field(foreign_key="user_account.id", index=True)
    planned_start: date
    planned_end: date


class Audit(AuditBase, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    status: AuditStatus = Field(default=AuditStatus.planned, max_length=16, index=True)
    actual_start: date | None = None
    actual_end: date | None = None
    summary: str = Field(default="", max_length=TEXT_MAX)  # the report's conclusion
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class AuditCreate(AuditBase):
    pass


class AuditMember(SQLModel, table=True):
    """An auditor on the team; the lead is a member too. Auditing one's own department
    needs an override with a reason (independence, 审核员独立性)."""

    __tablename__ = "audit_member"
    audit_id: int = Field(foreign_key="audit.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, index=True)
    independence_override: str = Field(default="", max_length=TEXT_MAX)
    override_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    override_at: datetime | None = utc_field(default=None)


class AuditRequirement(SQLModel, table=True):
    __tablename__ = "audit_requirement"
    audit_id: int = Field(foreign_key="audit.id", primary_key=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", primary_key=True, index=True)


class AuditDepartment(SQLModel, table=True):
    __tablename__ = "audit_department"
    audit_id: int = Field(foreign_key="audit.id", primary_key=True, ondelete="CASCADE")
    department_id: int = Field(foreign_key="department.id", primary_key=True, index=True)


class ChecklistItem(SQLModel, table=True):
    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("audit_id", "requirement_id", "department_id"),)
    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True, ondelete="CASCADE")
    requirement_id: int = Field(foreign_key="requirement.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    position: int = 0
    result: ChecklistResult = Field(default=ChecklistResult.not_audited, max_length=16, index=True)
    notes: str = Field(default="", max_length=TEXT_MAX)
    audited_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    audited_at: datetime | None = utc_field(default=None)


class ChecklistEvidence(SQLModel, table=True):
    """An evidence revision the auditor saw for a checklist item (pinned, never follows)."""

    __tablename__ = "checklist_evidence"
    item_id: int = Field(foreign_key="checklist_item.id", primary_key=True, ondelete="CASCADE")
    revision_id: int = Field(foreign_key="evidence_revision.id", primary_key=True, index=True)


class Finding(SQLModel, table=True):
    """A graded statement from an audit; a nonconformity finding opens a nonconformity."""

    __tablename__ = "finding"
    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True, ondelete="CASCADE")
    checklist_item_id: int | None = Field(
        default=None, foreign_key="checklist_item.id", unique=True
    )
    grade: ChecklistResult = Field(max_length=16, index=True)
    statement: str = Field(min_length=1, max_length=TEXT_MAX)
    requirement_id: int | None = Field(default=None, foreign_key="requirement.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = utc_field()
