"""Nonconformities and CAPA: the board, raising one, the detail page with its inline forms,
the deadline table, and the JSON API."""

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import DomainError, Forbidden, Invalid
from app.i18n import gettext as _
from app.i18n import localized
from app.i18n.labels import label
from app.models.department import Department
from app.models.nonconformity import (
    TEXT_MAX,
    ActionKind,
    ActionStatus,
    CorrectiveActionCreate,
    NcGrade,
    NcSource,
    NcStatus,
    Nonconformity,
    NonconformityCreate,
    RootCauseMethod,
    Verdict,
)
from app.models.requirement import Requirement
from app.pagination import Page
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.nonconformities import deadline as deadline_service
from app.services.nonconformities import service as nc_service
from app.services.nonconformities.board import (
    ALL,
    BoardFilter,
    overdue_actions,
    overdue_nonconformities,
    search,
)
from app.services.nonconformities.board import owner_options as board_owner_options
from app.services.requirements import service as requirement_service
from app.web.access.nonconformities import (
    NonconformityById,
    WorkableAction,
    WorkableNonconformity,
    WorkerDep,
)
from app.web.deps import ApiActor, CurrentActor, Now, PageDep, paged_by, require
from app.web.forms import filter_id, form_values, submit
from app.web.http import json_answer, json_page, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/nonconformities", tags=["nonconformities"], include_in_schema=False)
api_router = APIRouter(tags=["nonconformities"])

RaiserDep = Annotated[Actor, Depends(require(Permission.raise_nonconformities))]
VerifierDep = Annotated[Actor, Depends(require(Permission.verify_nonconformities))]
# The deadline table is part of the management system's rules, kept by its administrator.
DeadlineEditorDep = Annotated[Actor, Depends(require(Permission.manage_audits))]

LIST_FRAGMENTS = {"nc-list": "nc_list"}
DETAIL_FRAGMENTS = {"nc-work": "work"}
DEADLINE_FRAGMENTS = {"nc-deadlines": "deadlines"}


class CorrectionForm(BaseModel):
    correction: str = Field(default="", max_length=TEXT_MAX)
    correction_done_on: date | None = None


class RootCauseForm(BaseModel):
    root_cause_method: RootCauseMethod | None = None
    root_cause: str = Field(default="", max_length=TEXT_MAX)
    effectiveness_check_date: date | None = None


class ActionStatusForm(BaseModel):
    status: ActionStatus
    done_on: date | None = None
    note: str = Field(default="", max_length=TEXT_MAX)


class VerifyForm(BaseModel):
    verdict: Verdict
    notes: str = Field(default="", max_length=TEXT_MAX)
    evidence_id: int | None = None


# --- the board ------------------------------------------------------------------------------


def _filters(params: Any) -> BoardFilter:
    status = params.get("status") or ""
    grade = params.get("grade") or None
    source = params.get("source") or None
    if (
        status not in ("", ALL, *NcStatus)
        or grade not in (None, *NcGrade)
        or source not in (None, *NcSource)
    ):
        raise Invalid(_("Choose one of the offered options."))
    return BoardFilter(
        status=status,
        grade=NcGrade(grade) if grade else None,
        source=NcSource(source) if source else None,
        department_id=filter_id(params.get("department")),
        owner_id=filter_id(params.get("owner")),
        overdue=params.get("overdue") == "1",
    )


def _options(members: Iterable[StrEnum]) -> list[tuple[str, str]]:
    return [(str(m), label(m)) for m in members]


def _choices(session: SessionDep) -> dict[str, Any]:
    departments = department_service.as_tree(department_service.get_all(session=session))
    clauses = requirement_service.clauses(session=session)
    return {
        "owner_options": user_service.options(session=session),
        "departments": departments,
        "department_select": department_service.options(departments),
        "requirement_options": [(r.id, f"{r.clause} {localized(r, 'title')}") for r in clauses],
        "sources": list(NcSource),
        "grades": list(NcGrade),
        "statuses": list(NcStatus),
        "source_options": _options(NcSource),
        "grade_options": _options(NcGrade),
    }


# Twenty-five rows a page by default: the board is read from the top (most urgent first),
# and each of its rows is a share of the time the page takes to draw.
BoardPageDep = Annotated[Page, Depends(paged_by(25))]


@router.get("")
def board(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, page: BoardPageDep
) -> Response:
    filters = _filters(request.query_params)
    today = local_date(now)
    rows, total = search(session=session, filters=filters, page=page, today=today)
    query = urlencode(
        [(k, v) for k, v in request.query_params.items() if k not in ("page", "size") and v]
    )
    context: dict[str, Any] = {
        "rows": rows,
        "total": total,
        "page": page,
        "filters": filters,
        "query": query,
        "today": today,
    }
    if not (wants_fragment(request) and request.headers.get("hx-target") in LIST_FRAGMENTS):
        # The counts, overdue lists and filter choices are only drawn with the whole page.
        departments = department_service.as_tree(department_service.get_all(session=session))
        context.update(
            counts=nc_service.status_counts(session=session),
            overdue_total=nc_service.overdue_count(session=session, today=today),
            late_ncs=overdue_nonconformities(session=session, today=today),
            late_actions=overdue_actions(session=session, today=today),
            late_action_total=nc_service.overdue_action_count(session=session, today=today),
            departments=departments,
            owner_options=board_owner_options(session=session, selected=filters.owner_id),
            sources=list(NcSource),
            grades=list(NcGrade),
            statuses=list(NcStatus),
        )
    return render(request, "nonconformities/board.html", context, fragments=LIST_FRAGMENTS)


# --- raising one ----------------------------------------------------------------------------


def _form(
    request: Request,
    session: SessionDep,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "nonconformities/new.html",
        {
            "values": values,
            "errors": errors,
            "deadlines": deadline_service.table(session=session),
            **_choices(session),
        },
        status_code=status_code,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: RaiserDep) -> Response:
    return _form(request, session, {"source": "internal_audit", "grade": "minor"}, {})


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: RaiserDep) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        NonconformityCreate,
        values,
        lambda data: nc_service.create(session=session, now=now, actor_id=actor.id, data=data),
    )
    if result is None:
        session.rollback()
        return _form(request, session, values, errors, status)
    session.commit()
    return redirect(request, f"/nonconformities/{result.id}", toast=_("Nonconformity raised."))


# --- the deadline table ---------------------------------------------------------------------


def _deadlines_page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    errors: dict[str, str],
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    rows = deadline_service.table(session=session)
    return render(
        request,
        "nonconformities/deadlines.html",
        {
            "rows": rows,
            "errors": errors,
            "values": values
            or {
                deadline_service.field_name(r.source, r.grade): r.days if r.overridden else ""
                for r in rows
            },
            "field_name": deadline_service.field_name,
            "may_edit": actor.can(Permission.manage_audits),
            "days_min": deadline_service.DAYS_MIN,
            "days_max": deadline_service.DAYS_MAX,
        },
        fragments=DEADLINE_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


@router.get("/deadlines")
def deadlines(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return _deadlines_page(request, session, actor, {})


@router.post("/deadlines")
async def save_deadlines(
    request: Request, session: SessionDep, now: Now, actor: DeadlineEditorDep
) -> Response:
    form = await request.form()
    submitted = {k: str(v) for k, v in form.items() if k.startswith("days-")}
    errors = deadline_service.save(
        session=session, now=now, actor_id=actor.id, submitted=dict(submitted)
    )
    if errors:
        session.rollback()
        return _deadlines_page(request, session, actor, errors, submitted, 422)
    session.commit()
    if not wants_fragment(request):
        return redirect(request, "/nonconformities/deadlines", toast=_("Deadlines saved."))
    return _deadlines_page(request, session, actor, {}, headers=toast_header(_("Deadlines saved.")))


# --- the detail page ------------------------------------------------------------------------


def _page(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    nonconformity: Nonconformity,
    status_code: int = 200,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    assert nonconformity.id is not None
    planned = nc_service.actions(session=session, nonconformity_id=nonconformity.id)
    checks = nc_service.verifications(session=session, nonconformity_id=nonconformity.id)
    people = (
        {nonconformity.owner_id, nonconformity.raised_by_id}
        | {a.owner_id for a in planned}
        | {v.verified_by_id for v in checks}
    )
    names = user_service.names_by_id(session=session, user_ids=people)
    is_open = nonconformity.status != NcStatus.closed
    may_work = actor.can(Permission.work_on_nonconformities)
    context = {
        "nc": nonconformity,
        "actions": planned,
        "verifications": checks,
        "names": names,
        "requirement": (
            session.get(Requirement, nonconformity.requirement_id)
            if nonconformity.requirement_id
            else None
        ),
        "department": (
            session.get(Department, nonconformity.department_id)
            if nonconformity.department_id
            else None
        ),
        "overdue": nc_service.is_overdue(nonconformity, local_date(now)),
        "today": local_date(now),
        "may_edit": is_open and actor.can(Permission.raise_nonconformities),
        "may_work": is_open and may_work and actor.may_touch(nonconformity.owner_id),
        "may_work_on": {
            a.id
            for a in planned
            if is_open and may_work and actor.may_touch(a.owner_id, nonconformity.owner_id)
        },
        "may_verify": (
            nonconformity.status == NcStatus.verification
            and actor.can(Permission.verify_nonconformities)
        ),
        "independent": nc_service.may_verify(
            session=session, nonconformity=nonconformity, user_id=actor.id
        ),
        "errors": errors or {},
        "values": values or {},
        "header_values": nonconformity.model_dump(mode="json"),
        "kind_options": _options(ActionKind),
        "method_options": _options(RootCauseMethod),
        "verdict_options": _options(Verdict),
        # Done first: it is what an owner does most.
        "action_status_options": _options(
            [ActionStatus.done, ActionStatus.cancelled, ActionStatus.open]
        ),
        **_choices(session),
    }
    if values and "header" in values:
        context["header_values"] = values["header"]
    return render(
        request,
        "nonconformities/detail.html",
        context,
        fragments=DETAIL_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


def _saved(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    nonconformity: Nonconformity,
    message: str,
) -> Response:
    """After a change: htmx redraws the working area with a toast; a plain form redirects."""
    session.commit()
    if wants_fragment(request) and request.headers.get("hx-target") in DETAIL_FRAGMENTS:
        return _page(request, session, now, actor, nonconformity, headers=toast_header(message))
    return redirect(request, f"/nonconformities/{nonconformity.id}", toast=message)


def _refused(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    nonconformity: Nonconformity,
    form: str,
    errors: dict[str, str],
    status_code: int,
    values: dict[str, Any] | None = None,
) -> Response:
    """Nothing is kept; the form comes back with the messages next to its fields."""
    session.rollback()
    if status_code == 403 and wants_fragment(request):
        # htmx swaps no 403 answer; the plain-text error becomes a toast instead.
        raise Forbidden(next(iter(errors.values()), None))
    session.refresh(nonconformity)
    return _page(
        request,
        session,
        now,
        actor,
        nonconformity,
        status_code,
        errors={form: errors},
        values={form: values or {}},
    )


@router.get("/{nonconformity_id:int}")
def detail(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    nonconformity: NonconformityById,
) -> Response:
    return _page(request, session, now, actor, nonconformity)


@router.post("/{nonconformity_id:int}")
async def update(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: RaiserDep,
    nonconformity: NonconformityById,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        NonconformityCreate,
        values,
        lambda data: nc_service.update(
            session=session, now=now, actor_id=actor.id, nonconformity=nonconformity, data=data
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, nonconformity, "header", errors, status, values
        )
    return _saved(request, session, now, actor, nonconformity, _("Changes saved."))


@router.post("/{nonconformity_id:int}/start")
def start(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: WorkerDep,
    nonconformity: WorkableNonconformity,
) -> Response:
    try:
        nc_service.start(session=session, now=now, actor_id=actor.id, nonconformity=nonconformity)
    except DomainError as exc:
        # A change without inputs: the refusal shows by its button.
        errors = {exc.field or "__all__": exc.message}
        return _refused(
            request, session, now, actor, nonconformity, "status", errors, exc.status_code
        )
    return _saved(request, session, now, actor, nonconformity, _("Work started."))


@router.post("/{nonconformity_id:int}/correction")
async def correction(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: WorkerDep,
    nonconformity: WorkableNonconformity,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        CorrectionForm,
        values,
        lambda data: nc_service.record_correction(
            session=session,
            now=now,
            actor_id=actor.id,
            nonconformity=nonconformity,
            correction=data.correction,
            done_on=data.correction_done_on,
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, nonconformity, "correction", errors, status, values
        )
    return _saved(request, session, now, actor, nonconformity, _("Correction saved."))


@router.post("/{nonconformity_id:int}/root-cause")
async def root_cause(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: WorkerDep,
    nonconformity: WorkableNonconformity,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        RootCauseForm,
        values,
        lambda data: nc_service.record_root_cause(
            session=session,
            now=now,
            actor_id=actor.id,
            nonconformity=nonconformity,
            method=data.root_cause_method,
            analysis=data.root_cause,
            effectiveness_check_date=data.effectiveness_check_date,
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, nonconformity, "root_cause", errors, status, values
        )
    return _saved(request, session, now, actor, nonconformity, _("Root cause analysis saved."))


@router.post("/{nonconformity_id:int}/actions")
async def add_action(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: WorkerDep,
    nonconformity: WorkableNonconformity,
) -> Response:
    # Planning the actions is the owner's work (or an overseer's), like the rest of the CAPA.
    values = form_values(await request.form())
    result, errors, status = submit(
        CorrectiveActionCreate,
        values,
        lambda data: nc_service.add_action(
            session=session, now=now, actor_id=actor.id, nonconformity=nonconformity, data=data
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, nonconformity, "action", errors, status, values
        )
    return _saved(request, session, now, actor, nonconformity, _("Action added."))


@router.post("/actions/{action_id:int}/status")
async def action_status(
    request: Request, session: SessionDep, now: Now, actor: WorkerDep, action: WorkableAction
) -> Response:
    nonconformity = nc_service.get(session=session, nonconformity_id=action.nonconformity_id)
    values = form_values(await request.form())
    result, errors, status = submit(
        ActionStatusForm,
        values,
        lambda data: nc_service.set_action_status(
            session=session,
            now=now,
            actor_id=actor.id,
            nonconformity=nonconformity,
            action=action,
            status=data.status,
            done_on=data.done_on,
            note=data.note,
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            nonconformity,
            f"action-{action.id}",
            errors,
            status,
            values,
        )
    return _saved(request, session, now, actor, nonconformity, _("Action updated."))


@router.post("/{nonconformity_id:int}/request-verification")
def request_verification(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: WorkerDep,
    nonconformity: WorkableNonconformity,
) -> Response:
    try:
        nc_service.request_verification(
            session=session, now=now, actor_id=actor.id, nonconformity=nonconformity
        )
    except DomainError as exc:
        errors = {exc.field or "__all__": exc.message}
        return _refused(
            request, session, now, actor, nonconformity, "status", errors, exc.status_code
        )
    return _saved(request, session, now, actor, nonconformity, _("Sent for verification."))


@router.post("/{nonconformity_id:int}/verify")
async def verify(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: VerifierDep,
    nonconformity: NonconformityById,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        VerifyForm,
        values,
        lambda data: nc_service.verify(
            session=session,
            now=now,
            actor_id=actor.id,
            nonconformity=nonconformity,
            verdict=data.verdict,
            notes=data.notes,
            evidence_id=data.evidence_id,
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, nonconformity, "verify", errors, status, values
        )
    message = (
        _("Verified effective; the nonconformity is closed.")
        if result.verdict == Verdict.effective
        else _("Not effective; the nonconformity is reopened.")
    )
    return _saved(request, session, now, actor, nonconformity, message)


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/nonconformities",
    response_model=dict[str, Any],
    summary="Nonconformities, open ones by default, paginated",
)
def api_list(
    request: Request, session: SessionDep, now: Now, actor: ApiActor, page: PageDep
) -> Response:
    rows, total = search(
        session=session, filters=_filters(request.query_params), page=page, today=local_date(now)
    )
    return json_page(
        page,
        total,
        [
            {
                **r.nonconformity.model_dump(mode="json"),
                "owner": r.owner_name,
                "department": r.department_name,
                "clause": r.clause,
                "open_actions": r.open_actions,
                "actions": r.total_actions,
                "overdue": nc_service.is_overdue(r.nonconformity, local_date(now)),
            }
            for r in rows
        ],
    )


@api_router.get(
    "/nonconformities/{nonconformity_id:int}",
    response_model=dict[str, Any],
    summary="One nonconformity with its actions and verifications",
)
def api_detail(
    session: SessionDep, now: Now, actor: ApiActor, nonconformity: NonconformityById
) -> Response:
    assert nonconformity.id is not None
    return json_answer(
        {
            **nonconformity.model_dump(mode="json"),
            "overdue": nc_service.is_overdue(nonconformity, local_date(now)),
            "actions": [
                a.model_dump(mode="json")
                for a in nc_service.actions(session=session, nonconformity_id=nonconformity.id)
            ],
            "verifications": [
                v.model_dump(mode="json")
                for v in nc_service.verifications(
                    session=session, nonconformity_id=nonconformity.id
                )
            ],
        }
    )
