"""The evidence register, evidence pages, uploads and downloads, review, links, Excel."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.errors import Invalid, NotFound
from app.i18n import gettext as _
from app.models.evidence import Evidence, EvidenceCreate, EvidenceStatus, EvidenceUpdate
from app.models.requirement import Framework
from app.services.accounts import user_search
from app.services.evidence import approval
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.register import search as register_search
from app.services.requirements import clause_search
from app.web.access.evidence import (
    ApiVisibleEvidence,
    ApproverDep,
    EditableEvidence,
    EditorDep,
    VisibleEvidence,
)
from app.web.deps import ApiActor, CurrentActor, Now, PageDep
from app.web.evidence_page import (
    detail_response,
    filter_params,
    form_choices,
    parse_filters,
    picked_filters,
    picker_response,
    picker_term,
    register_choices,
)
from app.web.forms import filter_id, form_values, parse_id, submit
from app.web.http import json_answer, json_page, redirect, same_site_path
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/evidence", tags=["evidence"], include_in_schema=False)
api_router = APIRouter(tags=["evidence"])

LIST_FRAGMENTS = {"evidence-list": "evidence_list"}


async def _form_values(request: Request) -> dict[str, Any]:
    return form_values(await request.form())


# Read on the event loop, so the handler itself can be a plain def: a save or a decision locks
# the item (and on SQLite waits up to 30 s for the write lock) in the thread pool, off the loop.
FormValues = Annotated[dict[str, Any], Depends(_form_values)]


def _list_only(request: Request) -> bool:
    return wants_fragment(request) and request.headers.get("hx-target") in LIST_FRAGMENTS


@router.get("")
def register(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, page: PageDep
) -> Response:
    filters = parse_filters(request.query_params)
    rows, total = register_search(
        session=session, actor=actor, filters=filters, page=page, today=local_date(now)
    )
    return render(
        request,
        "evidence/register.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "filters": filters,
            "query": urlencode(filter_params(filters)),
            "today": local_date(now),
            # The list shows the clause and owner in force, each with a link that clears it.
            **picked_filters(session, filters),
            # The filter form's choices are only needed when the whole page is drawn.
            **({} if _list_only(request) else register_choices(session, filters)),
        },
        fragments=LIST_FRAGMENTS,
    )


@router.get("/requirement-options")
def requirement_options(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    """Clauses matching the typed number or title words, for the register's clause filter."""
    framework_id = filter_id(request.query_params.get("framework"))
    if framework_id is not None and session.get(Framework, framework_id) is None:
        raise NotFound(_("There is no such requirement catalogue."))
    term = picker_term(request.query_params)
    found = (
        clause_search.find(session=session, term=term, framework_id=framework_id) if term else None
    )
    return picker_response(request, session, "requirement", found)


@router.get("/owner-options")
def owner_options(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    """People matching the typed name or e-mail address, for the register's owner filter."""
    term = picker_term(request.query_params)
    found = user_search.find(session=session, term=term) if term else None
    return picker_response(request, session, "owner", found)


def _form(
    request: Request,
    session: SessionDep,
    evidence: Evidence | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    latest = (
        evidence_service.latest_revision(session=session, evidence_id=evidence.id)
        if evidence is not None and evidence.id is not None
        else None
    )
    return render(
        request,
        "evidence/form.html",
        {
            "evidence": evidence,
            "values": values,
            "errors": errors,
            # The period belongs to a revision: only offered once there is one.
            "has_revisions": latest is not None,
            "in_force": evidence is not None and evidence.status == EvidenceStatus.approved,
            **form_choices(session),
        },
        status_code=status_code,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: EditorDep) -> Response:
    return _form(
        request,
        session,
        None,
        {"kind": "document", "owner_id": actor.id, "department_id": actor.user.department_id},
        {},
    )


@router.post("")
def create(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, values: FormValues
) -> Response:
    if not actor.may_touch(None):
        values["owner_id"] = str(actor.id)  # owners create evidence they own
    result, errors, status = submit(
        EvidenceCreate,
        values,
        lambda data: evidence_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, None, values, errors, status)
    session.commit()
    return redirect(
        request, f"/evidence/{result.id}", toast=_("Evidence created. Upload its file next.")
    )


@router.get("/{evidence_id:int}")
def detail(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, evidence: VisibleEvidence
) -> Response:
    return detail_response(request, session, now, actor, evidence)


@router.get("/{evidence_id:int}/edit")
def edit_page(
    request: Request,
    session: SessionDep,
    actor: EditorDep,
    evidence: EditableEvidence,
    evidence_id: int,
) -> Response:
    values = evidence.model_dump(mode="json")
    latest = evidence_service.latest_revision(session=session, evidence_id=evidence_id)
    if latest is not None:
        # The form shows what the newest revision proposes, so saving it unchanged proposes
        # nothing new.
        reviewed = set(approval.reviewed_fields(evidence.kind))
        values.update(latest.model_dump(mode="json", include=reviewed))
    return _form(request, session, evidence, values, {})


@router.post("/{evidence_id:int}")
def update(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: EditorDep,
    evidence: EditableEvidence,
    values: FormValues,
) -> Response:
    result, errors, status = submit(
        EvidenceUpdate,
        values,
        lambda data: approval.update(
            session=session,
            now=now,
            actor_id=actor.id,
            evidence=evidence,
            data=data,
            overseer=actor.may_touch(None),
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, evidence, values, errors, status)
    if result.proposal is not None:
        message = _(
            "Saved. The new title, address or period is revision %(n)d; it takes effect once "
            "it is approved.",
            n=result.proposal.number,
        )
    else:
        message = _("Changes saved.")
    return _saved(request, session, evidence, message)


def _saved(request: Request, session: SessionDep, evidence: Evidence, message: str) -> Response:
    session.commit()
    return redirect(request, f"/evidence/{evidence.id}", toast=message)


@router.post("/{evidence_id:int}/submit")
def submit_for_review(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, evidence: EditableEvidence
) -> Response:
    approval.submit(session=session, now=now, actor_id=actor.id, evidence=evidence)
    return _saved(request, session, evidence, _("Sent for review."))


@router.post("/{evidence_id:int}/approve")
def approve(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ApproverDep,
    evidence: VisibleEvidence,
    revision_id: Annotated[str, Form()] = "",
) -> Response:
    # The form names the revision the approver was shown; a newer one is refused.
    approval.approve(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        revision_id=parse_id(revision_id),
    )
    return _saved(request, session, evidence, _("Revision approved."))


@router.post("/{evidence_id:int}/return")
def return_to_author(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ApproverDep,
    evidence: VisibleEvidence,
    reason: Annotated[str, Form()] = "",
    revision_id: Annotated[str, Form()] = "",
) -> Response:
    approval.return_to_draft(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        reason=reason[:4000],
        revision_id=parse_id(revision_id),
    )
    return _saved(request, session, evidence, _("Returned to the author."))


@router.post("/{evidence_id:int}/obsolete")
def obsolete(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, evidence: EditableEvidence
) -> Response:
    evidence_service.make_obsolete(session=session, now=now, actor_id=actor.id, evidence=evidence)
    return _saved(request, session, evidence, _("Marked obsolete; it stays readable."))


@router.post("/{evidence_id:int}/links")
def link(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: EditorDep,
    evidence: EditableEvidence,
    target_id: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Link from either side: the form says the kind, the target and where to go back."""
    target = filter_id(target_id)
    if target is None:
        raise Invalid(_("Choose what to link."), field="target_id")
    evidence_links.link(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        kind_name=kind,
        target_id=target,
    )
    session.commit()
    return redirect(
        request, same_site_path(next_path, f"/evidence/{evidence.id}"), toast=_("Linked.")
    )


@router.post("/{evidence_id:int}/links/{kind}/{target_id:int}/delete")
def unlink(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: EditorDep,
    evidence: EditableEvidence,
    kind: str,
    target_id: int,
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    evidence_links.unlink(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        kind_name=kind,
        target_id=target_id,
    )
    session.commit()
    return redirect(
        request, same_site_path(next_path, f"/evidence/{evidence.id}"), toast=_("Link removed.")
    )


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/evidence",
    response_model=dict[str, Any],
    summary="Search the evidence register (what the token's owner may see)",
)
def api_register(
    request: Request, session: SessionDep, now: Now, actor: ApiActor, page: PageDep
) -> Response:
    rows, total = register_search(
        session=session,
        actor=actor,
        filters=parse_filters(request.query_params),
        page=page,
        today=local_date(now),
    )
    return json_page(
        page,
        total,
        [
            {
                **r.evidence.model_dump(mode="json"),
                "owner": r.owner_name,
                "department": r.department_name,
                "latest_file": r.latest_name,
                "current": r.current,
            }
            for r in rows
        ],
    )


@api_router.get(
    "/evidence/{evidence_id:int}",
    response_model=dict[str, Any],
    summary="One evidence item with its revisions and links",
)
def api_detail(session: SessionDep, evidence: ApiVisibleEvidence, evidence_id: int) -> Response:
    return json_answer(
        {
            **evidence.model_dump(mode="json"),
            "revisions": [
                r.model_dump(mode="json")
                for r in evidence_service.revisions(session=session, evidence_id=evidence_id)
            ],
            "links": [
                {"kind": item.kind, "target_id": item.target_id, "title": item.title}
                for item in evidence_links.linked(session=session, evidence_id=evidence_id)
            ],
        }
    )
