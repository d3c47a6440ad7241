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
    manage_audits = "manage_audits"
    conduct_audits = "conduct_audits"
    raise_nonconformities = "raise_nonconformities"
    work_on_nonconformities = "work_on_nonconformities"
    verify_nonconformities = "verify_nonconformities"
    manage_reviews = "manage_reviews"
    sign_reviews = "sign_reviews"
    update_review_actions = "update_review_actions"
    verify_review_actions = "verify_review_actions"
    manage_certification = "manage_certification"
    manage_self_assessments = "manage_self_assessments"
    build_dossiers = "build_dossiers"
    manage_assessor_access = "manage_assessor_access"


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
    # The audit programme and independence overrides belong to the IIMS administrator;
    # filling in a checklist takes a member of that audit's team (checked per audit).
    Permission.manage_audits: frozenset({Role.admin}),
    Permission.conduct_audits: frozenset({Role.admin, Role.auditor}),
    Permission.raise_nonconformities: frozenset({Role.admin, Role.auditor, Role.executive}),
    # Owners work on the nonconformities and actions they own (checked per object).
    Permission.work_on_nonconformities: frozenset({Role.admin, Role.executive, Role.owner}),
    # Verification is never by the nonconformity's owner (checked per object).
    Permission.verify_nonconformities: frozenset({Role.admin, Role.auditor, Role.executive}),
    Permission.manage_reviews: frozenset({Role.admin}),
    # Only the review's chair signs it (checked per review).
    Permission.sign_reviews: frozenset({Role.executive}),
    Permission.update_review_actions: frozenset({Role.admin, Role.executive, Role.owner}),
    Permission.verify_review_actions: frozenset({Role.admin, Role.executive}),
    # Certification is run by the IIMS administrator (管理者代表); self-assessment results are
    # entered by the administrator or top management. Assessor links expose the dossier
    # outside the company, so only administrators create them.
    Permission.manage_certification: frozenset({Role.admin}),
    Permission.manage_self_assessments: frozenset({Role.admin, Role.executive}),
    Permission.build_dossiers: frozenset({Role.admin}),
    Permission.manage_assessor_access: frozenset({Role.admin}),
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
