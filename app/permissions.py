"""Who may do what: the single table every server-side permission check reads."""

from collections.abc import Iterable
from enum import StrEnum

from app.i18n import N_
from app.models.user import Role


class Permission(StrEnum):
    view = "view"
    manage_users = "manage_users"
    manage_departments = "manage_departments"
    edit_requirement_status = "edit_requirement_status"
    manage_strategy = "manage_strategy"
    manage_capabilities = "manage_capabilities"
    record_measurements = "record_measurements"
    update_tasks = "update_tasks"
    manage_pdca = "manage_pdca"
    manage_evidence = "manage_evidence"
    approve_evidence = "approve_evidence"
    manage_reminders = "manage_reminders"


ALL_ROLES = frozenset(Role)

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.view: ALL_ROLES,
    Permission.manage_users: frozenset({Role.admin}),
    Permission.manage_departments: frozenset({Role.admin}),
    Permission.edit_requirement_status: frozenset({Role.admin}),
    Permission.manage_strategy: frozenset({Role.admin, Role.executive}),
    Permission.manage_capabilities: frozenset({Role.admin, Role.executive}),
    # Owners may record values and move tasks only for what they own (checked per object).
    Permission.record_measurements: frozenset({Role.admin, Role.executive, Role.owner}),
    Permission.update_tasks: frozenset({Role.admin, Role.executive, Role.owner}),
    Permission.manage_pdca: frozenset({Role.admin}),
    # Owners manage the evidence they own; approving takes an overseer (and never the uploader).
    Permission.manage_evidence: frozenset({Role.admin, Role.executive, Role.owner}),
    Permission.approve_evidence: frozenset({Role.admin, Role.executive}),
    Permission.manage_reminders: frozenset({Role.admin}),
}

# Roles that act on any object of a kind, not only on what they own.
OVERSEERS = frozenset({Role.admin, Role.executive})

ROLE_LABELS: dict[Role, str] = {
    Role.admin: N_("IIMS administrator"),
    Role.executive: N_("Top management"),
    Role.auditor: N_("Internal auditor"),
    Role.owner: N_("Owner"),
    Role.viewer: N_("Viewer"),
}


def allowed(roles: Iterable[Role], permission: Permission) -> bool:
    return not GRANTS[permission].isdisjoint(roles)
