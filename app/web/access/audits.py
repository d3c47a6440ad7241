"""Audits and audit programmes by their path id, and who may work on an audit."""

from typing import Annotated

from fastapi import Depends

from app.actor import Actor
from app.db import SessionDep
from app.errors import Forbidden
from app.i18n import gettext as _
from app.models.audit import Audit, AuditProgramme
from app.permissions import Permission
from app.services.audits import service as audit_service
from app.web.deps import require

# Routers take these same aliases, so the permission is checked once per request.
AuditorDep = Annotated[Actor, Depends(require(Permission.conduct_audits))]


def audit_by_id(session: SessionDep, audit_id: int) -> Audit:
    return audit_service.get(session=session, audit_id=audit_id)


AuditById = Annotated[Audit, Depends(audit_by_id)]


def programme_by_id(session: SessionDep, programme_id: int) -> AuditProgramme:
    return audit_service.get_programme(session=session, programme_id=programme_id)


ProgrammeById = Annotated[AuditProgramme, Depends(programme_by_id)]


def audit_team_member(session: SessionDep, actor: AuditorDep, audit_id: int) -> Audit:
    """The audit, for an auditor on its team; administrators work on any audit."""
    audit = audit_service.get(session=session, audit_id=audit_id)
    if actor.can(Permission.manage_audits):
        return audit
    if not audit_service.is_on_team(session=session, audit=audit, user_id=actor.id):
        raise Forbidden(_("Only the audit team works on this audit."))
    return audit


AuditTeamMember = Annotated[Audit, Depends(audit_team_member)]
