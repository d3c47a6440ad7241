"""All table models, imported here so that metadata (and Alembic) sees every table."""

from app.models.activity import ActivityEvent
from app.models.api_token import ApiToken
from app.models.auth import LoginAttempt, UserSession
from app.models.capability import (
    Capability,
    CapabilityAdvantage,
    CapabilityRequirement,
    StageChange,
)
from app.models.department import Department, DepartmentCreate
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
from app.models.strategy import CompetitiveAdvantage, Strategy
from app.models.user import Role, User, UserRole

__all__ = [
    "ActivityEvent",
    "ApiToken",
    "CalendarDay",
    "Capability",
    "CapabilityAdvantage",
    "CapabilityRequirement",
    "CompetitiveAdvantage",
    "Department",
    "DepartmentCreate",
    "Evidence",
    "EvidenceCapability",
    "EvidenceGoal",
    "EvidenceRequirement",
    "EvidenceRevision",
    "EvidenceTask",
    "Framework",
    "Goal",
    "Initiative",
    "LoginAttempt",
    "Measurement",
    "Notification",
    "NotificationPreference",
    "PdcaCycle",
    "PhaseChange",
    "ReminderRule",
    "Requirement",
    "RequirementStatus",
    "Role",
    "SchedulerLease",
    "StageChange",
    "StoredFile",
    "Strategy",
    "Task",
    "User",
    "UserRole",
    "UserSession",
    "WebhookChannel",
]
