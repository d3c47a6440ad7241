"""Audit programmes and audits: planning, team and independence, status, conclusion."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func
from sqlmodel import col, select
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import Invalid
from app.i18n import N_
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.audit import (
    NEXT_AUDIT_STATUS,
    Audit,
    AuditCreate,
    AuditKind,
    AuditProgrammeCreate,
    AuditStatus,
)
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.audits import checklist as audit_checklist
from app.services.audits import coverage as audit_coverage
from app.services.audits import service as audit_service
from app.services.requirements import service as requirement_service
from app.web.access.audits import AuditById, AuditorDep, AuditTeamMember, ProgrammeById
from app.web.deps import ApiActor, CurrentActor, Now, PageDep, require
from app.web.forms import filter_id, form_values, parse_id, submit
from app.web.http import json_answer, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/audits", tags=["audits"], include_in_schema=False)
api_router = APIRouter(tags=["audits"])

PlannerDep = Annotated[Actor, Depends(require(Permission.manage_audits))]
SCOPE_LISTS = ("member_ids", "requirement_ids", "department_ids")
LIST_FRAGMENTS = {"audit-list": "audit_list"}
ADVANCE_LABELS = {
    AuditStatus.planned: N_("Start the audit"),
    AuditStatus.in_progress: N_("Finish fieldwork, write the report"),
    AuditStatus.reporting: N_("Close the audit"),
}


def _list_filters(params: Any) -> dict[str, Any]:
    status, kind = params.get("status") or "", params.get("kind") or ""
    if status not in ("", *AuditStatus) or kind not in ("", *AuditKind):
        raise Invalid(_("Choose one of the offered options."))
    return {"status": status, "kind": kind, "programme": filter_id(params.get("programme"))}


@router.get("")
def audit_list(
    request: Request, session: SessionDep, actor: CurrentActor, page: PageDep
) -> Response:
    filters = _list_filters(request.query_params)
    query = select(Audit)
    if filters["status"]:
        query = query.where(Audit.status == filters["status"])
    if filters["kind"]:
        query = query.where(Audit.kind == filters["kind"])
    if filters["programme"]:
        query = query.where(Audit.programme_id == filters["programme"])
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    audits = session.exec(
        query.order_by(col(Audit.planned_start).desc(), col(Audit.id).desc())
        .offset(page.offset)
        .limit(page.size)
    ).all()
    return render(
        request,
        "audits/list.html",
        {
            "audits": audits,
            "total": total,
            "page": page,
            "filters": filters,
            "programmes": audit_service.programmes(session=session),
            "names": user_service.names_by_id(
                session=session, user_ids={a.lead_auditor_id for a in audits}
            ),
            "programme_errors": {},
            "programme_values": {},
            "statuses": list(AuditStatus),
            "kinds": list(AuditKind),
        },
        fragments=LIST_FRAGMENTS,
    )


@router.post("/programmes")
async def create_programme(
    request: Request, session: SessionDep, now: Now, actor: PlannerDep, page: PageDep
) -> Response:
    values = form_values(await request.form())
    programme, errors, status = submit(
        AuditProgrammeCreate,
        values,
        lambda data: audit_service.create_programme(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if programme is None:
        session.rollback()
        return render(
            request,
            "audits/list.html",
            {
                "audits": [],
                "total": 0,
                "page": page,
                "filters": {"status": "", "kind": "", "programme": None},
                "programmes": audit_service.programmes(session=session),
                "names": {},
                "programme_errors": errors,
                "programme_values": values,
                "statuses": list(AuditStatus),
                "kinds": list(AuditKind),
            },
            status_code=status,
        )
    session.commit()
    return redirect(
        request, f"/audits/programmes/{programme.id}", toast=_("Audit programme created.")
    )


@router.get("/programmes/{programme_id:int}")
def programme_page(
    request: Request, session: SessionDep, actor: CurrentActor, programme: ProgrammeById
) -> Response:
    audits = session.exec(
        select(Audit).where(Audit.programme_id == programme.id).order_by(col(Audit.planned_start))
    ).all()
    return render(
        request,
        "audits/programme.html",
        {
            "programme": programme,
            "audits": audits,
            "coverage": audit_coverage.for_programme(session=session, programme=programme),
            "names": user_service.names_by_id(
                session=session, user_ids={a.lead_auditor_id for a in audits}
            ),
        },
    )


def _form(
    request: Request,
    session: SessionDep,
    audit: Audit | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "audits/form.html",
        {
            "audit": audit,
            "values": values,
            "errors": errors,
            "user_options": user_service.options(session=session),
            "departments": department_service.as_tree(department_service.get_all(session=session)),
            "clauses": requirement_service.clauses(session=session),
            "programme_options": [
                (p.id, f"{p.year} {p.title}") for p in audit_service.programmes(session=session)
            ],
            "kind_options": [(k.value, label(k)) for k in AuditKind],
        },
        status_code=status_code,
    )


def _scope(values: dict[str, Any]) -> tuple[audit_service.Scope | None, dict[str, str]]:
    parsed: dict[str, list[int]] = {}
    for name in SCOPE_LISTS:
        ids = [parse_id(v) for v in values.get(name, [])]
        if None in ids:
            return None, {name: _("Choose one of the offered options.")}
        parsed[name] = [i for i in ids if i is not None]
    return audit_service.Scope(**parsed), {}


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: PlannerDep) -> Response:
    values: dict[str, Any] = {
        "kind": "internal",
        "programme_id": request.query_params.get("programme", ""),
        **{name: [] for name in SCOPE_LISTS},
    }
    return _form(request, session, None, values, {})


async def _save(
    request: Request, session: SessionDep, now: Now, actor: Actor, audit: Audit | None
) -> Response:
    values = form_values(await request.form(), lists=SCOPE_LISTS)
    scope, errors = _scope(values)
    status = 422
    if scope is not None:
        fields = {k: v for k, v in values.items() if k not in SCOPE_LISTS}
        saved, errors, status = submit(
            AuditCreate,
            fields,
            lambda data: (
                audit_service.update(
                    session=session,
                    now=now,
                    actor_id=actor.id,
                    audit=audit,
                    data=data,
                    scope=scope,
                )
                if audit is not None
                else audit_service.create(
                    session=session, now=now, actor_id=actor.id, data=data, scope=scope
                )
            ),
        )
        if saved is not None:
            session.commit()
            return redirect(
                request,
                f"/audits/{saved.id}",
                toast=_("Audit saved.") if audit else _("Audit planned."),
            )
    session.rollback()
    return _form(request, session, audit, values, errors, status)


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: PlannerDep) -> Response:
    return await _save(request, session, now, actor, None)


@router.get("/{audit_id:int}/edit")
def edit_page(
    request: Request, session: SessionDep, actor: PlannerDep, audit: AuditById
) -> Response:
    scope = audit_service.current_scope(session=session, audit=audit)
    values = {
        **audit.model_dump(),
        "member_ids": [str(i) for i in scope.member_ids],
        "requirement_ids": [str(i) for i in scope.requirement_ids],
        "department_ids": [str(i) for i in scope.department_ids],
    }
    return _form(request, session, audit, values, {})


@router.post("/{audit_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: PlannerDep, audit: AuditById
) -> Response:
    return await _save(request, session, now, actor, audit)


def _page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    audit: Audit,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    scope = audit_service.current_scope(session=session, audit=audit)
    team = audit_service.team(session=session, audit=audit)
    return render(
        request,
        "audits/detail.html",
        {
            "audit": audit,
            "team": team,
            "blocked": audit_service.unresolved_conflicts(team),
            "programme": (
                audit_service.get_programme(session=session, programme_id=audit.programme_id)
                if audit.programme_id
                else None
            ),
            "requirement_count": len(scope.requirement_ids),
            "departments": department_service.names(
                session=session, department_ids=scope.department_ids
            ),
            "counts": audit_checklist.result_counts(session=session, audit_id=audit.id or 0),
            "findings": audit_checklist.findings(session=session, audit=audit),
            "errors": errors or {},
            "values": values or {},
            "statuses": list(AuditStatus),
            # Computed here: a {% set %} in the page would not reach the conclusion fragment.
            "on_team": actor.can(Permission.manage_audits)
            or (actor.can(Permission.conduct_audits) and any(m.user.id == actor.id for m in team)),
            "next_status": NEXT_AUDIT_STATUS.get(audit.status),
            "advance_label": _(ADVANCE_LABELS[audit.status])
            if audit.status in ADVANCE_LABELS
            else "",
        },
        status_code=status_code,
        fragments={"audit-conclusion": "conclusion"},
    )


@router.get("/{audit_id:int}")
def detail(
    request: Request, session: SessionDep, actor: CurrentActor, audit: AuditById
) -> Response:
    return _page(request, session, actor, audit)


@router.post("/{audit_id:int}/status")
async def advance(
    request: Request, session: SessionDep, now: Now, actor: AuditorDep, audit: AuditTeamMember
) -> Response:
    raw = (await request.form()).get("status")
    if raw not in AuditStatus.__members__:
        raise Invalid(_("Choose one of the offered options."), field="status")
    audit_service.advance(
        session=session, now=now, actor_id=actor.id, audit=audit, to=AuditStatus(str(raw))
    )
    session.commit()
    return redirect(request, f"/audits/{audit.id}", toast=_("Audit status updated."))


@router.post("/{audit_id:int}/independence/{user_id:int}")
async def override_independence(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: PlannerDep,
    audit: AuditById,
    user_id: int,
) -> Response:
    reason = str((await request.form()).get("reason") or "")
    audit_service.override_independence(
        session=session, now=now, actor_id=actor.id, audit=audit, user_id=user_id, reason=reason
    )
    session.commit()
    return redirect(request, f"/audits/{audit.id}", toast=_("Override recorded."))


@router.post("/{audit_id:int}/summary")
async def save_summary(
    request: Request, session: SessionDep, now: Now, actor: AuditorDep, audit: AuditTeamMember
) -> Response:
    summary = str((await request.form()).get("summary") or "").strip()
    audit_service.set_summary(
        session=session, now=now, actor_id=actor.id, audit=audit, summary=summary
    )
    session.commit()
    if not wants_fragment(request):
        return redirect(request, f"/audits/{audit.id}", toast=_("Conclusion saved."))
    response = _page(request, session, actor, audit)
    response.headers.update(toast_header(_("Conclusion saved.")))
    return response


def _public(audit: Audit, counts: dict[Any, int]) -> dict[str, Any]:
    return {
        **audit.model_dump(mode="json"),
        "results": {str(k): v for k, v in counts.items()},
    }


@api_router.get("/audits", response_model=dict[str, Any], summary="Audits, newest first")
def api_list(session: SessionDep, actor: ApiActor, page: PageDep) -> Response:
    total = session.exec(select(func.count()).select_from(Audit)).one()
    audits = session.exec(
        select(Audit)
        .order_by(col(Audit.planned_start).desc(), col(Audit.id).desc())
        .offset(page.offset)
        .limit(page.size)
    ).all()
    return json_answer(
        {
            "total": total,
            "page": page.number,
            "items": [audit.model_dump(mode="json") for audit in audits],
        }
    )


@api_router.get(
    "/audits/{audit_id:int}",
    response_model=dict[str, Any],
    summary="One audit with its checklist results",
)
def api_detail(session: SessionDep, actor: ApiActor, audit: AuditById) -> Response:
    counts = audit_checklist.result_counts(session=session, audit_id=audit.id or 0)
    return json_answer(_public(audit, counts))
