"""All table models, imported here so that metadata (and Alembic) sees every table."""

from app.models.activity import ActivityEvent
from app.models.api_token import ApiToken
from app.models.audit import (
    Audit,
    AuditDepartment,
    AuditMember,
    AuditProgramme,
    AuditRequirement,
    ChecklistEvidence,
    ChecklistItem,
    Finding,
)
from app.models.auth import LoginAttempt, UserSession
from app.models.capability import (
    Capability,
    CapabilityAdvantage,
    CapabilityRequirement,
    StageChange,
)
from app.models.certification import (
    AssessorAccess,
    AssessorVisit,
    Certification,
    CertificationGrade,
    Milestone,
    MilestoneRule,
)
from app.models.department import Department, DepartmentCreate
from app.models.dossier import Dossier
from app.models.evidence import (
    Evidence,
    EvidenceCapability,
    EvidenceGoal,
    EvidenceRequirement,
    EvidenceRevision,
    EvidenceTask,
    StoredFile,
)
from app.models.goal import Goal, Measurement
from app.models.initiative import Initiative, Task
from app.models.nonconformity import (
    CorrectiveAction,
    CorrectiveActionEvidence,
    NcDeadline,
    NcParticipant,
    Nonconformity,
    Verification,
)
from app.models.notification import (
    CalendarDay,
    Notification,
    NotificationPreference,
    ReminderRule,
    SchedulerLease,
    WebhookChannel,
)
from app.models.pdca import PdcaCycle, PhaseChange
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.models.review import (
    ManagementReview,
    ReviewAction,
    ReviewAttendee,
    ReviewEvidence,
)
from app.models.self_assessment import SelfAssessment, ViewLink
from app.models.strategy import CompetitiveAdvantage, Strategy
from app.models.user import Role, User, UserRole

__all__ = [
    "ActivityEvent",
    "ApiToken",
    "AssessorAccess",
    "AssessorVisit",
    "Audit",
    "AuditDepartment",
    "AuditMember",
    "AuditProgramme",
    "AuditRequirement",
    "CalendarDay",
    "Capability",
    "CapabilityAdvantage",
    "CapabilityRequirement",
    "Certification",
    "CertificationGrade",
    "ChecklistEvidence",
    "ChecklistItem",
    "CompetitiveAdvantage",
    "CorrectiveAction",
    "CorrectiveActionEvidence",
    "Department",
    "DepartmentCreate",
    "Dossier",
    "Evidence",
    "EvidenceCapability",
    "EvidenceGoal",
    "EvidenceRequirement",
    "EvidenceRevision",
    "EvidenceTask",
    "Finding",
    "Framework",
    "Goal",
    "Initiative",
    "LoginAttempt",
    "ManagementReview",
    "Measurement",
    "Milestone",
    "MilestoneRule",
    "NcDeadline",
    "NcParticipant",
    "Nonconformity",
    "Notification",
    "NotificationPreference",
    "PdcaCycle",
    "PhaseChange",
    "ReminderRule",
    "Requirement",
    "RequirementStatus",
    "ReviewAction",
    "ReviewAttendee",
    "ReviewEvidence",
    "Role",
    "SchedulerLease",
    "SelfAssessment",
    "StageChange",
    "StoredFile",
    "Strategy",
    "Task",
    "User",
    "UserRole",
    "UserSession",
    "Verification",
    "ViewLink",
    "WebhookChannel",
]
