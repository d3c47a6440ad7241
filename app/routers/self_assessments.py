"""Self-assessment (评估与诊断): the yearly results with their trend and six-view radar,
entry by hand or from a spreadsheet, weak views linked to capabilities and goals, JSON API."""

from io import BytesIO
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.self_assessment import (
    AssessmentView,
    DevelopmentStage,
    SelfAssessment,
    SelfAssessmentCreate,
)
from app.permissions import Permission
from app.services.self_assessments import excel as self_assessment_excel
from app.services.self_assessments import service as assessment_service
from app.web import import_flow
from app.web.access.self_assessments import AssessmentById, ViewLinkById
from app.web.deps import ApiActor, CurrentActor, Now, SettingsDep, require
from app.web.forms import form_values, parse_id, submit
from app.web.http import json_answer, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/self-assessments", tags=["self-assessments"], include_in_schema=False)
api_router = APIRouter(tags=["self-assessments"])

EditorDep = Annotated[Actor, Depends(require(Permission.manage_self_assessments))]
PAGE_FRAGMENTS = {"sa-views": "views"}
SCORE_FIELDS = ("overall_score", *(str(v) for v in AssessmentView))
IMPORT_MAX_MB = 5


# --- charts (ECharts options built here, so that the table tabs show the same numbers) -------


def trend_chart(rows: list[SelfAssessment]) -> dict[str, Any]:
    """The overall score by year."""
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 24, "top": 24, "bottom": 32},
        "xAxis": {"type": "category", "data": [str(r.year) for r in rows]},
        "yAxis": {"type": "value", "min": 0, "max": 100},
        "series": [
            {
                "name": _("Overall score"),
                "type": "line",
                "data": [r.overall_score for r in rows],
                "label": {"show": True},
                "color": "#0b4f8a",
            }
        ],
    }


def radar_chart(latest: SelfAssessment, previous: SelfAssessment | None) -> dict[str, Any]:
    """The six views of the latest year, with the year before overlaid."""
    series = [
        {
            "value": [v or 0 for v in assessment_service.scores(a).values()],
            "name": str(a.year),
        }
        for a in (latest, previous)
        if a is not None
    ]
    return {
        "tooltip": {},
        "legend": {"data": [s["name"] for s in series], "bottom": 0},
        "radar": {
            "indicator": [{"name": label(v), "max": 100} for v in assessment_service.VIEWS],
            "radius": "65%",
        },
        "series": [{"type": "radar", "data": series, "areaStyle": {"opacity": 0.15}}],
    }


# --- the page -------------------------------------------------------------------------------


def _page(
    request: Request,
    session: SessionDep,
    actor: Actor,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    rows = assessment_service.all_years(session=session)
    latest = rows[-1] if rows else None
    previous = rows[-2] if len(rows) > 1 else None
    return render(
        request,
        "self_assessments/page.html",
        {
            "rows": rows,
            "latest": latest,
            "previous": previous,
            "views": assessment_service.VIEWS,
            "scores": assessment_service.scores,
            "weak": assessment_service.weak_views(latest),
            "links": assessment_service.links(session=session),
            "targets": assessment_service.link_targets(session=session),
            "trend": trend_chart(rows),
            "radar": radar_chart(latest, previous) if latest else None,
            "may_edit": actor.can(Permission.manage_self_assessments),
            "errors": errors or {},
        },
        fragments=PAGE_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


@router.get("")
def page(request: Request, session: SessionDep, actor: CurrentActor) -> Response:
    return _page(request, session, actor)


# --- entering a year by hand -----------------------------------------------------------------


def _form(
    request: Request,
    session: SessionDep,
    assessment: SelfAssessment | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    existing = None
    year = str(values.get("year", ""))
    # Only after a 409, when the year has passed validation (2000–2100): int() is safe.
    if status_code == 409 and year.isascii() and year.isdigit() and len(year) == 4:
        existing = assessment_service.by_year(session=session, year=int(year))
    return render(
        request,
        "self_assessments/form.html",
        {
            "assessment": assessment,
            "values": values,
            "errors": errors,
            "existing": existing,
            "views": assessment_service.VIEWS,
            "stage_options": [(str(s), label(s)) for s in DevelopmentStage],
        },
        status_code=status_code,
    )


def _score_messages(errors: dict[str, str]) -> dict[str, str]:
    """Scores are decimals from 0 to 100; say so instead of the generic number message."""
    return {
        k: _("Enter a number from 0 to 100.") if k in SCORE_FIELDS else v for k, v in errors.items()
    }


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: EditorDep) -> Response:
    return _form(request, session, None, {}, {})


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: EditorDep) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        SelfAssessmentCreate,
        values,
        lambda data: assessment_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, None, values, _score_messages(errors), status)
    session.commit()
    return redirect(
        request, "/self-assessments", toast=_("Result for %(year)d saved.", year=result.year)
    )


# --- spreadsheet import ----------------------------------------------------------------------


def _import_page(
    request: Request,
    rows: list[self_assessment_excel.ImportRow] | None,
    token: str | None,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "self_assessments/import.html",
        {
            "rows": rows,
            "token": token,
            "errors": errors,
            "headers": self_assessment_excel.HEADERS,
        },
        status_code=status_code,
    )


@router.get("/import")
def import_page(request: Request, actor: EditorDep) -> Response:
    return _import_page(request, None, None, {})


@router.get("/template.xlsx")
def template(actor: EditorDep) -> Response:
    """An empty sheet with the columns the import reads."""
    # imported here: openpyxl costs 0.2–1 s at start and only the Excel files need it
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(self_assessment_excel.HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    buffer = BytesIO()
    book.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="self-assessments.xlsx"'},
    )


RESULTS: import_flow.ExcelImport[self_assessment_excel.ImportRow] = import_flow.ExcelImport(
    kind="sa-",
    read=lambda path, limits: self_assessment_excel.read_sheet(path, limits=limits),
    check=lambda session, sheet, _actor: self_assessment_excel.check_rows(
        session=session, sheet=sheet
    ),
    write=lambda session, now, actor_id, rows: self_assessment_excel.import_rows(
        session=session, now=now, actor_id=actor_id, rows=rows
    ),
    expired=lambda: _(
        "This file was already imported, or its preview has expired; "
        "check the results before uploading it again."
    ),
    # A year recorded meanwhile by hand or by another import: the unique year refuses it.
    clashed=lambda: _(
        "A year in this file was recorded at the same time by someone else; "
        "nothing was imported. Upload the file again to see which rows remain."
    ),
)


@router.post("/import")
async def import_preview(
    request: Request, session: SessionDep, settings: SettingsDep, actor: EditorDep
) -> Response:
    """Read the uploaded sheet and show every row with its errors; nothing is written yet."""
    preview = await import_flow.preview(
        RESULTS,
        request=request,
        session=session,
        settings=settings,
        actor=actor,
        max_mb=IMPORT_MAX_MB,
    )
    return _import_page(
        request, preview.rows, preview.token, preview.errors, status_code=preview.status_code
    )


@router.post("/import/confirm")
def import_confirm(  # plain def: checking the sheet and writing its years is slow work
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: EditorDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    created, skipped = import_flow.confirm(
        RESULTS, session=session, now=now, settings=settings, actor=actor, token=token
    )
    return redirect(
        request,
        "/self-assessments",
        toast=_(
            "%(created)d years imported, %(skipped)d rows skipped.",
            created=created,
            skipped=skipped,
        ),
    )


# --- weak views and their links --------------------------------------------------------------


def _saved(request: Request, session: SessionDep, actor: Actor, message: str) -> Response:
    session.commit()
    if wants_fragment(request) and request.headers.get("hx-target") in PAGE_FRAGMENTS:
        return _page(request, session, actor, headers=toast_header(message))
    return redirect(request, "/self-assessments", toast=message)


@router.post("/links")
async def add_link(request: Request, session: SessionDep, now: Now, actor: EditorDep) -> Response:
    values = form_values(await request.form())
    view_value = str(values.get("view", ""))
    try:
        if view_value not in list(AssessmentView):
            raise Invalid(_("Choose one of the offered options."), field="target")
        kind, _sep, raw_id = str(values.get("target", "")).partition(":")
        target_id = parse_id(raw_id)
        if kind not in ("capability", "goal") or target_id is None:
            raise Invalid(_("Choose a capability or a goal."), field="target")
        assessment_service.link(
            session=session,
            now=now,
            actor_id=actor.id,
            view=AssessmentView(view_value),
            capability_id=target_id if kind == "capability" else None,
            goal_id=target_id if kind == "goal" else None,
        )
    except DomainError as exc:
        session.rollback()
        form = f"link-{view_value}" if view_value in list(AssessmentView) else "link"
        return _page(
            request,
            session,
            actor,
            errors={form: {exc.field or "__all__": exc.message}},
            status_code=exc.status_code,
        )
    return _saved(request, session, actor, _("Link added."))


@router.post("/links/{link_id:int}/delete")
def remove_link(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, link: ViewLinkById
) -> Response:
    assessment_service.unlink(session=session, now=now, actor_id=actor.id, link=link)
    return _saved(request, session, actor, _("Link removed."))


# --- one year -------------------------------------------------------------------------------


@router.get("/{assessment_id:int}")
def edit_page(
    request: Request, session: SessionDep, actor: CurrentActor, assessment: AssessmentById
) -> Response:
    if not actor.can(Permission.manage_self_assessments):
        return redirect(request, "/self-assessments")
    return _form(request, session, assessment, assessment.model_dump(mode="json"), {})


@router.post("/{assessment_id:int}")
async def update(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: EditorDep,
    assessment: AssessmentById,
    assessment_id: int,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        SelfAssessmentCreate,
        values,
        lambda data: assessment_service.update(
            session=session, now=now, actor_id=actor.id, assessment=assessment, data=data
        ),
    )
    if result is None:
        session.rollback()
        assessment = assessment_service.get(session=session, assessment_id=assessment_id)
        return _form(request, session, assessment, values, _score_messages(errors), status)
    session.commit()
    return redirect(
        request, "/self-assessments", toast=_("Result for %(year)d saved.", year=result.year)
    )


@router.post("/{assessment_id:int}/delete")
def delete(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, assessment: AssessmentById
) -> Response:
    year = assessment.year
    assessment_service.delete(session=session, now=now, actor_id=actor.id, assessment=assessment)
    session.commit()
    return redirect(
        request, "/self-assessments", toast=_("Result for %(year)d deleted.", year=year)
    )


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/self-assessments",
    response_model=dict[str, Any],
    summary="Self-assessment results by year, oldest first",
)
def api_list(session: SessionDep, actor: ApiActor) -> Response:
    rows = assessment_service.all_years(session=session)
    return json_answer(
        {
            "items": [r.model_dump(mode="json") for r in rows],
            "latest": assessment_service.latest(session=session),
        }
    )
