"""The evidence page, drawn after a change by the evidence router and after an upload by the
evidence files router; and the choices its forms and the register's filters offer."""

from datetime import datetime
from typing import Any

from fastapi import Request
from sqlmodel import Session
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.models.evidence import (
    Confidentiality,
    Evidence,
    EvidenceKind,
    EvidenceRevision,
    EvidenceStatus,
)
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.evidence import approval
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.requirements import service as requirement_service
from app.web.rendering import render

DETAIL_FRAGMENTS = {"evidence-revisions": "revisions"}


def choices(session: Session) -> dict[str, Any]:
    return {
        "owner_options": user_service.options(session=session),
        "departments": department_service.as_tree(department_service.get_all(session=session)),
        "clauses": requirement_service.clauses(session=session),
        "kinds": list(EvidenceKind),
        "statuses": list(EvidenceStatus),
        "confidentialities": list(Confidentiality),
    }


def _proposed_changes(
    kind: EvidenceKind, effective: EvidenceRevision | None, pending: EvidenceRevision | None
) -> set[str]:
    """What the revision under review would change in what is in force: shown to its approver
    (the two ends of the period as one "period")."""
    if pending is None or effective is None:
        return set()
    return {
        "period" if name.startswith("period_") else name
        for name in ("sha256", *approval.reviewed_fields(kind))
        if getattr(pending, name) != getattr(effective, name)
    }


def detail_response(
    request: Request,
    session: Session,
    now: datetime,
    actor: Actor,
    evidence: Evidence,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    assert evidence.id is not None
    history = evidence_service.revisions(session=session, evidence_id=evidence.id)
    people = (
        {r.uploaded_by_id for r in history}
        | {r.approved_by_id for r in history}
        | {evidence.owner_id}
    )
    names = user_service.names_by_id(session=session, user_ids=people)
    effective = next((r for r in history if r.approved_at), None)
    # Only the newest revision can be under review; an older draft was superseded.
    pending = history[0] if history and not history[0].approved_at else None
    context = {
        "evidence": evidence,
        "history": history,
        "effective": effective,
        "pending": pending,
        "proposed_changes": _proposed_changes(evidence.kind, effective, pending),
        "names": names,
        "expired": evidence_service.is_expired(evidence, local_date(now)),
        "links": evidence_links.linked(session=session, evidence_id=evidence.id),
        "link_labels": {name: spec.label for name, spec in evidence_links.KINDS.items()},
        "may_edit": actor.can(Permission.manage_evidence) and actor.may_touch(evidence.owner_id),
        "upload_errors": {},
        "limit_mb": request.app.state.settings.upload_max_mb,
        "extensions": sorted(request.app.state.settings.allowed_extensions),
        **choices(session),
        **extra,
    }
    return render(
        request,
        "evidence/detail.html",
        context,
        fragments=DETAIL_FRAGMENTS,
        status_code=status_code,
    )
