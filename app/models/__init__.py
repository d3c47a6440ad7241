"""All table models, imported here so that metadata (and Alembic) sees every table."""

from app.models.activity import ActivityEvent
from app.models.api_token import ApiToken
from app.models.auth import LoginAttempt, UserSession
from app.models.department import Department, DepartmentCreate
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.models.user import Role, User, UserRole

__all__ = [
    "ActivityEvent",
    "ApiToken",
    "Department",
    "DepartmentCreate",
    "Framework",
    "LoginAttempt",
    "Requirement",
    "RequirementStatus",
    "Role",
    "User",
    "UserRole",
    "UserSession",
]
