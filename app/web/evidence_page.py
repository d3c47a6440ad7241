"""The evidence page, drawn after a change by the evidence router and after an upload by the
evidence files router; the choices the evidence form offers; and the register's filters: read
from the query string, written back into links, and the clause and owner pickers' answers."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlmodel import Session
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.errors import Invalid
from app.i18n import gettext as _
from app.models.evidence import Evidence, EvidenceKind, EvidenceRevision, EvidenceStatus
from app.models.requirement import Framework
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.evidence import approval
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.register import RegisterFilter, Sort
from app.services.requirements import clause_search
from app.services.requirements import service as requirement_service
from app.services.search_terms import MATCH_LIMIT, TERM_MAX, Option
from app.web.forms import filter_id
from app.web.rendering import render

DETAIL_FRAGMENTS = {"evidence-revisions": "revisions"}


def form_choices(session: Session) -> dict[str, Any]:
    """What the evidence form's selects offer."""
    return {
        "owner_options": user_service.options(session=session),
        "departments": department_service.as_tree(department_service.get_all(session=session)),
    }


def parse_filters(params: Mapping[str, str]) -> RegisterFilter:
    """The register's filters from a query string; an unknown option is a 422."""
    kind = params.get("kind") or None
    status = params.get("status") or ""
    sort = params.get("sort") or Sort.by_updated
    if (
        kind not in (None, *EvidenceKind)
        or status not in ("", "expired", *EvidenceStatus)
        or sort not in [s.value for s in Sort]
    ):
        raise Invalid(_("Choose one of the offered options."))
    return RegisterFilter(
        q=str(params.get("q") or "")[:TERM_MAX],
        status=status,
        kind=EvidenceKind(kind) if kind else None,
        owner_id=filter_id(params.get("owner")),
        department_id=filter_id(params.get("department")),
        requirement_id=filter_id(params.get("requirement")),
        due=params.get("due") == "1",
        sort=Sort(sort),
    )


def filter_params(filters: RegisterFilter, *, leave_out: str = "") -> list[tuple[str, str]]:
    """The filters as query-string pairs (the names bookmarks use), without `leave_out`: for
    links that change or clear one filter and keep the others."""
    pairs = [
        ("q", filters.q),
        ("status", filters.status),
        ("kind", filters.kind or ""),
        ("owner", str(filters.owner_id or "")),
        ("department", str(filters.department_id or "")),
        ("requirement", str(filters.requirement_id or "")),
        ("due", "1" if filters.due else ""),
        ("sort", "" if filters.sort == Sort.by_updated else filters.sort),
    ]
    return [(name, value) for name, value in pairs if value and name != leave_out]


@dataclass(frozen=True)
class Picked:
    """A clause or owner filter in force, as the register shows it: `label` is None when the id
    in the query string (an old bookmark) names nothing; `clear` is the query without it."""

    id: int
    label: str | None
    clear: str


def picker_term(params: Mapping[str, str]) -> str:
    return " ".join(str(params.get("find") or "")[:TERM_MAX].split())


def _picked(
    filters: RegisterFilter, name: str, value: int | None, label: str | None
) -> Picked | None:
    if value is None:
        return None
    return Picked(value, label, urlencode(filter_params(filters, leave_out=name)))


def picked_filters(session: Session, filters: RegisterFilter) -> dict[str, Picked | None]:
    """The clause and owner filters in force, with the labels the register shows for them."""
    clause = None
    if filters.requirement_id is not None:
        clause = clause_search.label(session=session, requirement_id=filters.requirement_id)
    owner = None
    if filters.owner_id is not None:
        names = user_service.names_by_id(session=session, user_ids=[filters.owner_id])
        owner = names.get(filters.owner_id)
    return {
        "picked_requirement": _picked(filters, "requirement", filters.requirement_id, clause),
        "picked_owner": _picked(filters, "owner", filters.owner_id, owner),
    }


def _frameworks(session: Session) -> list[Framework]:
    frameworks = requirement_service.get_frameworks(session=session)
    # A choice of catalogue is worth offering only when two may share clause numbers.
    return frameworks if len(frameworks) > 1 else []


def register_choices(session: Session, filters: RegisterFilter) -> dict[str, Any]:
    """What the register's filter form offers; clauses and owners are found by the pickers,
    whose forms carry the other filters along for a browser without JavaScript."""
    return {
        "departments": department_service.as_tree(department_service.get_all(session=session)),
        "kinds": list(EvidenceKind),
        "statuses": list(EvidenceStatus),
        "frameworks": _frameworks(session),
        "kept": {name: filter_params(filters, leave_out=name) for name in ("requirement", "owner")},
    }


def picker_response(
    request: Request, session: Session, picker: str, found: tuple[list[Option], bool] | None
) -> Response:
    """A picker's matches: the list under its search box for htmx, else a page of links that
    apply the filter (how the picker works without JavaScript)."""
    matches, more = found or ([], False)
    filters = parse_filters(request.query_params)
    return render(
        request,
        "evidence/filter_options.html",
        {
            "picker": picker,
            "term": picker_term(request.query_params),
            "matches": matches,
            "more": more,
            "limit": MATCH_LIMIT,
            "kept": filter_params(filters, leave_out=picker),
            "back": urlencode(filter_params(filters)),
            "frameworks": _frameworks(session),
            "framework_id": filter_id(request.query_params.get("framework")),
        },
        fragments={f"{picker}-options": "options"},
    )


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
        "clauses": requirement_service.clauses(session=session),
        **extra,
    }
    return render(
        request,
        "evidence/detail.html",
        context,
        fragments=DETAIL_FRAGMENTS,
        status_code=status_code,
    )
