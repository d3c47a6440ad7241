"""Evidence by its path id: seen only where its confidentiality allows, changed only by an
editor who owns it (or an overseer). The API has the same checks for the token's owner."""

from typing import Annotated

from fastapi import Depends

from app.actor import Actor
from app.db import SessionDep
from app.models.evidence import Evidence
from app.permissions import Permission
from app.services.evidence import service as evidence_service
from app.services.evidence.access import require_view
from app.web.deps import ApiActor, CurrentActor, api_require, require

# Routers take these same aliases, so the permission is checked once per request.
EditorDep = Annotated[Actor, Depends(require(Permission.manage_evidence))]
ApproverDep = Annotated[Actor, Depends(require(Permission.approve_evidence))]
ApiEditorDep = Annotated[Actor, Depends(api_require(Permission.manage_evidence))]


def require_edit(actor: Actor, evidence: Evidence) -> None:
    """Changing evidence needs seeing it first, then owning it (overseers own everything)."""
    require_view(actor, evidence)
    actor.require_owner(evidence.owner_id)


def visible_evidence(session: SessionDep, actor: CurrentActor, evidence_id: int) -> Evidence:
    evidence = evidence_service.get(session=session, evidence_id=evidence_id)
    require_view(actor, evidence)
    return evidence


VisibleEvidence = Annotated[Evidence, Depends(visible_evidence)]


def editable_evidence(session: SessionDep, actor: EditorDep, evidence_id: int) -> Evidence:
    evidence = evidence_service.get(session=session, evidence_id=evidence_id)
    require_edit(actor, evidence)
    return evidence


EditableEvidence = Annotated[Evidence, Depends(editable_evidence)]


def api_visible_evidence(session: SessionDep, actor: ApiActor, evidence_id: int) -> Evidence:
    evidence = evidence_service.get(session=session, evidence_id=evidence_id)
    require_view(actor, evidence)
    return evidence


ApiVisibleEvidence = Annotated[Evidence, Depends(api_visible_evidence)]


def api_editable_evidence(session: SessionDep, actor: ApiEditorDep, evidence_id: int) -> Evidence:
    evidence = evidence_service.get(session=session, evidence_id=evidence_id)
    require_edit(actor, evidence)
    return evidence


ApiEditableEvidence = Annotated[Evidence, Depends(api_editable_evidence)]
