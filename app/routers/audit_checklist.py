"""Working an audit's checklist row by row, and the audit report as page, PDF and Word."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.audit import Audit, ChecklistItem, ChecklistResult
from app.pagination import Page
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.audits import checklist as audit_checklist
from app.services.audits import report as audit_report
from app.services.audits import service as audit_service
from app.web import documents
from app.web.access.audits import AuditById, AuditorDep, AuditTeamMember
from app.web.deps import CurrentActor, Now, paged_by
from app.web.forms import filter_id, parse_id
from app.web.http import redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/audits", tags=["audits"], include_in_schema=False)

CHECKLIST_FRAGMENTS = {"checklist-rows": "checklist_rows"}


# Twenty-five items a page by default: each item is a small form with its evidence.
ChecklistPageDep = Annotated[Page, Depends(paged_by(25))]


def _may_record(session: SessionDep, actor: Actor, audit: Audit) -> bool:
    if not actor.can(Permission.conduct_audits):
        return False
    return actor.can(Permission.manage_audits) or audit_service.is_on_team(
        session=session, audit=audit, user_id=actor.id
    )


@router.get("/{audit_id:int}/checklist")
def checklist(
    request: Request,
    session: SessionDep,
    actor: CurrentActor,
    audit: AuditById,
    page: ChecklistPageDep,
) -> Response:
    params = request.query_params
    filters = audit_checklist.RowFilter(
        department_id=filter_id(params.get("department")), todo=params.get("todo") == "1"
    )
    rows, total = audit_checklist.page(
        session=session,
        audit=audit,
        actor=actor,
        filters=filters,
        offset=page.offset,
        limit=page.size,
    )
    scope = audit_service.current_scope(session=session, audit=audit)
    departments = [
        d for d in department_service.get_all(session=session) if d.id in set(scope.department_ids)
    ]
    on_page = sorted({row.item.requirement_id for row in rows})
    query = urlencode([(k, v) for k, v in params.items() if k in ("department", "todo") and v])
    return render(
        request,
        "audits/checklist.html",
        {
            "audit": audit,
            "rows": rows,
            "total": total,
            "page": page,
            "query": query,
            "offer": audit_checklist.offered(
                session=session, audit=audit, actor=actor, requirement_ids=on_page
            ),
            "may_record": _may_record(session, actor, audit),
            "results": list(ChecklistResult),
            "result_choices": _result_choices(),
            "departments": departments,
            "department_id": filters.department_id,
            "todo": filters.todo,
            "counts": audit_checklist.result_counts(session=session, audit_id=audit.id or 0),
            "row_errors": {},
        },
        fragments=CHECKLIST_FRAGMENTS,
    )


# The button colour of each result; the rest are grey.
RESULT_STYLES = {
    ChecklistResult.conforming: "success",
    ChecklistResult.major_nc: "danger",
    ChecklistResult.minor_nc: "warning",
    ChecklistResult.observation: "info",
}


def _result_choices() -> list[tuple[str, str, str]]:
    """Value, label and colour of each result button, once per page rather than per row."""
    return [(r.value, label(r), RESULT_STYLES.get(r, "secondary")) for r in ChecklistResult]


def _row(
    request: Request,
    session: SessionDep,
    audit: Audit,
    item: ChecklistItem,
    actor: Actor,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    (row,) = audit_checklist.rows(
        session=session, audit=audit, actor=actor, item_ids=[item.id or 0]
    )
    return render(
        request,
        "audits/_checklist_row.html",
        {
            "audit": audit,
            "row": row,
            "offer": audit_checklist.offered(
                session=session, audit=audit, actor=actor, requirement_ids=[item.requirement_id]
            ),
            "may_record": _may_record(session, actor, audit),
            "result_choices": _result_choices(),
            "row_errors": {item.id: errors or {}},
            "row_values": {item.id: values} if values else {},
        },
        status_code=status_code,
    )


@router.post("/{audit_id:int}/checklist/{item_id:int}")
async def record(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: AuditorDep,
    audit: AuditTeamMember,
    item_id: int,
) -> Response:
    item = audit_checklist.get_item(session=session, audit=audit, item_id=item_id)
    form = await request.form()
    raw_result = str(form.get("result") or "")
    notes = str(form.get("notes") or "")
    raw_revisions = [str(v) for v in form.getlist("revision_ids")]
    values = {"result": raw_result, "notes": notes, "revision_ids": raw_revisions}
    try:
        if raw_result not in ChecklistResult.__members__:
            raise Invalid(_("Choose one of the offered options."), field="result")
        revision_ids = [parse_id(v) for v in raw_revisions]
        if None in revision_ids:
            raise Invalid(_("Choose one of the offered options."), field="revision_ids")
        audit_checklist.record(
            session=session,
            now=now,
            actor_id=actor.id,
            audit=audit,
            item=item,
            result=ChecklistResult(raw_result),
            notes=notes,
            revision_ids=[r for r in revision_ids if r is not None],
        )
    except DomainError as exc:
        if not wants_fragment(request):
            raise  # the error page; nothing was committed
        session.rollback()
        return _row(
            request,
            session,
            audit,
            item,
            actor,
            errors={exc.field or "__all__": exc.message},
            values=values,
            status_code=exc.status_code,
        )
    session.commit()
    if not wants_fragment(request):
        return redirect(request, f"/audits/{audit.id}/checklist#item-{item_id}", toast=_("Saved."))
    response = _row(request, session, audit, item, actor)
    response.headers.update(toast_header(_("Saved.")))
    return response


@router.get("/{audit_id:int}/report")
def report(
    request: Request, session: SessionDep, actor: CurrentActor, audit: AuditById
) -> Response:
    kind = request.query_params.get("format") or "html"
    if kind not in ("html", "pdf", "docx"):
        raise Invalid(_("Choose one of the offered options."), field="format")
    outline = audit_report.build(session=session, audit=audit)
    if kind == "pdf":
        return documents.pdf(request, outline)
    if kind == "docx":
        return documents.docx(outline)
    return documents.page(request, outline)
