"""Certification (评定): the current record and earlier cycles, the milestone timeline, the
plan generator, the grade list and milestone rules, and the JSON API."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.certification import (
    Certification,
    CertificationCreate,
    CertificationStatus,
    Milestone,
)
from app.permissions import Permission
from app.services.accounts import users as user_service
from app.services.certification import plan
from app.services.certification import service as certification_service
from app.services.certification.service import MilestoneUpdate
from app.web.access.certification import CertificationById, MilestoneById
from app.web.deps import ApiActor, CurrentActor, Now, require
from app.web.forms import form_values, submit
from app.web.http import json_answer, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/certification", tags=["certification"], include_in_schema=False)
api_router = APIRouter(tags=["certification"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_certification))]
PAGE_FRAGMENTS = {"cert-record": "record", "cert-milestones": "milestones"}
SETTINGS_FRAGMENTS = {"cert-grades": "grades", "cert-rules": "rules"}


class StatusForm(BaseModel):
    status: CertificationStatus


class PlanForm(BaseModel):
    application_on: date | None = None


# --- the record page ------------------------------------------------------------------------


def _page(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    certification: Certification | None,
    *,
    status_code: int = 200,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    today = local_date(now)
    rows: list[Milestone] = []
    if certification is not None:
        assert certification.id is not None
        rows = certification_service.milestones(session=session, certification_id=certification.id)
    latest = certification_service.current(session=session)
    owners = {m.owner_id for m in rows if m.owner_id}
    names = user_service.names_by_id(session=session, user_ids=owners)
    grades = certification_service.grades(session=session)
    record_values = (values or {}).get("record") or (
        certification.model_dump(mode="json") if certification else {}
    )
    context = {
        "certification": certification,
        "is_current": certification is not None
        and latest is not None
        and certification.id == latest.id,
        "milestones": rows,
        "milestone_name": plan.name,
        "milestone_key": plan.key,
        "overdue": {m.id for m in rows if certification_service.is_overdue(m, today)},
        "names": names,
        "today": today,
        "history": certification_service.history(session=session),
        "may_manage": actor.can(Permission.manage_certification),
        "may_start_new": latest is None or latest.status not in certification_service.OPEN_STATUSES,
        "next_statuses": certification_service.next_statuses(certification)
        if certification
        else (),
        "grade_options": [(g, g) for g in grades],
        "owner_options": user_service.options(session=session),
        "errors": errors or {},
        "values": values or {},
        "record_values": record_values,
    }
    return render(
        request,
        "certification/page.html",
        context,
        fragments=PAGE_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


def _url(session: SessionDep, certification: Certification) -> str:
    latest = certification_service.current(session=session)
    if latest is not None and latest.id == certification.id:
        return "/certification"
    return f"/certification/{certification.id}"


def _saved(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    certification: Certification,
    message: str,
) -> Response:
    """htmx redraws the region it targets with a toast; a plain form redirects."""
    session.commit()
    if wants_fragment(request) and request.headers.get("hx-target") in PAGE_FRAGMENTS:
        return _page(request, session, now, actor, certification, headers=toast_header(message))
    return redirect(request, _url(session, certification), toast=message)


def _refused(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    certification_id: int,
    form: str,
    errors: dict[str, str],
    status_code: int,
    values: dict[str, Any] | None = None,
) -> Response:
    """Nothing is kept; the form comes back with the messages next to its fields."""
    session.rollback()
    certification = certification_service.get(session=session, certification_id=certification_id)
    return _page(
        request,
        session,
        now,
        actor,
        certification,
        status_code=status_code,
        errors={form: errors},
        values={form: values or {}},
    )


@router.get("")
def page(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    return _page(request, session, now, actor, certification_service.current(session=session))


def _new_form(
    request: Request,
    session: SessionDep,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    grades = certification_service.grades(session=session)
    return render(
        request,
        "certification/new.html",
        {
            "values": values,
            "errors": errors,
            "grade_options": [(g, g) for g in grades],
            "previous": certification_service.current(session=session),
        },
        status_code=status_code,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: ManagerDep) -> Response:
    previous = certification_service.current(session=session)
    values: dict[str, Any] = {}
    if previous is not None:
        # A re-assessment usually keeps the body, scope and grade of the previous cycle.
        values = {
            "body": previous.body,
            "scope": previous.scope,
            "grade_sought": previous.grade_sought,
        }
    return _new_form(request, session, values, {})


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: ManagerDep) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        CertificationCreate,
        values,
        lambda data: certification_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _new_form(request, session, values, errors, status)
    session.commit()
    return redirect(request, "/certification", toast=_("Certification record created."))


# --- settings: grades and milestone rules ----------------------------------------------------


def _settings_page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, Any]] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    rows = plan.rules_table(session=session)
    grades = certification_service.grades(session=session)
    rule_values = (values or {}).get("rules") or {
        plan.field_name(r.kind): r.days if r.overridden else "" for r in rows
    }
    return render(
        request,
        "certification/settings.html",
        {
            "grades": grades,
            "in_use": {
                g for g in grades if certification_service.grade_in_use(session=session, code=g)
            },
            "rules": rows,
            "field_name": plan.field_name,
            "rule_values": rule_values,
            "grade_values": (values or {}).get("grade", {}),
            "errors": errors or {},
            "may_manage": actor.can(Permission.manage_certification),
            "days_min": plan.DAYS_MIN,
        },
        fragments=SETTINGS_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


def _settings_saved(request: Request, session: SessionDep, actor: Actor, message: str) -> Response:
    session.commit()
    if wants_fragment(request) and request.headers.get("hx-target") in SETTINGS_FRAGMENTS:
        return _settings_page(request, session, actor, headers=toast_header(message))
    return redirect(request, "/certification/settings", toast=message)


def _settings_refused(
    request: Request,
    session: SessionDep,
    actor: Actor,
    form: str,
    error: DomainError,
    values: dict[str, Any] | None = None,
) -> Response:
    session.rollback()
    return _settings_page(
        request,
        session,
        actor,
        errors={form: {error.field or "__all__": error.message}},
        values={form: values or {}},
        status_code=error.status_code,
    )


@router.get("/settings")
def settings_page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return _settings_page(request, session, actor)


@router.post("/grades")
async def add_grade(request: Request, session: SessionDep, now: Now, actor: ManagerDep) -> Response:
    values = form_values(await request.form())
    try:
        certification_service.add_grade(
            session=session, now=now, actor_id=actor.id, code=str(values.get("code", ""))
        )
    except DomainError as exc:
        return _settings_refused(request, session, actor, "grade", exc, values)
    return _settings_saved(request, session, actor, _("Grade added."))


@router.post("/grades/{code}/delete")
def remove_grade(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, code: str
) -> Response:
    try:
        certification_service.remove_grade(session=session, now=now, actor_id=actor.id, code=code)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _settings_refused(request, session, actor, "grade", exc)
    return _settings_saved(request, session, actor, _("Grade removed."))


@router.post("/grades/{code}/move")
async def move_grade(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, code: str
) -> Response:
    direction = (await request.form()).get("direction")
    if direction not in ("up", "down"):
        raise Invalid(_("Choose one of the offered options."))
    certification_service.move_grade(
        session=session, now=now, actor_id=actor.id, code=code, up=direction == "up"
    )
    return _settings_saved(request, session, actor, _("Order saved."))


@router.post("/rules")
async def save_rules(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep
) -> Response:
    form = await request.form()
    submitted = {k: str(v) for k, v in form.items() if k.startswith("days-")}
    errors = plan.save_rules(session=session, now=now, actor_id=actor.id, submitted=dict(submitted))
    if errors:
        session.rollback()
        return _settings_page(
            request,
            session,
            actor,
            errors={"rules": errors},
            values={"rules": submitted},
            status_code=422,
        )
    return _settings_saved(request, session, actor, _("Milestone rules saved."))


# --- milestones -----------------------------------------------------------------------------


@router.post("/milestones/{milestone_id:int}")
async def update_milestone(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    milestone: MilestoneById,
    milestone_id: int,
) -> Response:
    certification = certification_service.get(
        session=session, certification_id=milestone.certification_id
    )
    values = form_values(await request.form())
    result, errors, status = submit(
        MilestoneUpdate,
        values,
        lambda data: certification_service.update_milestone(
            session=session,
            now=now,
            actor_id=actor.id,
            milestone=milestone,
            data=data,
            today=local_date(now),
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            milestone.certification_id,
            f"milestone-{milestone_id}",
            errors,
            status,
            values,
        )
    return _saved(request, session, now, actor, certification, _("Milestone saved."))


# --- one record -----------------------------------------------------------------------------


@router.get("/{certification_id:int}")
def detail(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    certification: CertificationById,
) -> Response:
    return _page(request, session, now, actor, certification)


@router.post("/{certification_id:int}")
async def update(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    certification: CertificationById,
    certification_id: int,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        CertificationCreate,
        values,
        lambda data: certification_service.update(
            session=session, now=now, actor_id=actor.id, certification=certification, data=data
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, certification_id, "record", errors, status, values
        )
    return _saved(request, session, now, actor, certification, _("Changes saved."))


@router.post("/{certification_id:int}/status")
async def change_status(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    certification: CertificationById,
    certification_id: int,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        StatusForm,
        values,
        lambda data: certification_service.set_status(
            session=session,
            now=now,
            actor_id=actor.id,
            certification=certification,
            status=data.status,
        ),
    )
    if result is None:
        return _refused(request, session, now, actor, certification_id, "status", errors, status)
    return _saved(
        request,
        session,
        now,
        actor,
        certification,
        _("Status changed to “%(status)s”.", status=label(result.status)),
    )


@router.post("/{certification_id:int}/plan")
async def generate_plan(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ManagerDep,
    certification: CertificationById,
    certification_id: int,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        PlanForm,
        values,
        lambda data: plan.generate(
            session=session,
            now=now,
            actor_id=actor.id,
            certification=certification,
            milestones=certification_service.milestones(
                session=session, certification_id=certification_id
            ),
            application_on=data.application_on,
        ),
    )
    if result is None:
        return _refused(
            request, session, now, actor, certification_id, "plan", errors, status, values
        )
    message = (
        _("%(n)d planned dates filled; dates set by hand were kept.", n=result)
        if result
        else _("Every planned date is already set; nothing was changed.")
    )
    return _saved(request, session, now, actor, certification, message)


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/certification",
    response_model=dict[str, Any],
    summary="The current certification record and its milestones",
)
def api_current(session: SessionDep, now: Now, actor: ApiActor) -> Response:
    certification = certification_service.current(session=session)
    if certification is None:
        return json_answer({"certification": None, "milestones": []})
    assert certification.id is not None
    today = local_date(now)
    return json_answer(
        {
            "certification": certification.model_dump(mode="json"),
            "milestones": [
                {
                    **m.model_dump(mode="json"),
                    "overdue": certification_service.is_overdue(m, today),
                }
                for m in certification_service.milestones(
                    session=session, certification_id=certification.id
                )
            ],
        }
    )
