"""Certification readiness: per-clause checks, per-chapter chart, pre-application checklist,
gap list, the printable report, and the JSON API. Everyone signed in may view."""

from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.errors import Invalid
from app.i18n import gettext as _
from app.i18n import localized
from app.services.certification import readiness, readiness_report
from app.services.certification.readiness import ChapterReadiness, Check, PreCheckResult, Rollup
from app.web import documents
from app.web.deps import ApiActor, CurrentActor, Now
from app.web.http import json_answer
from app.web.rendering import render, wants_fragment

router = APIRouter(tags=["readiness"], include_in_schema=False)
api_router = APIRouter(tags=["readiness"])

FRAGMENTS = {"readiness-gaps": "gaps"}
# The page lists this many gaps; "show all" loads the rest into the same region.
GAP_CAP = 50


def _check(value: str | None) -> Check | None:
    if not value:
        return None
    if value not in Check.__members__:
        raise Invalid(_("Choose one of the offered options."), field="check")
    return Check(value)


def _colour(percent: int) -> str:
    if percent >= 80:
        return "#198754"
    if percent >= 50:
        return "#ffc107"
    return "#dc3545"


def chapter_chart(chapters: list[ChapterReadiness]) -> dict[str, Any]:
    """Percent of ready clauses per chapter, as horizontal bars linking to the chapter."""
    names = [f"{c.chapter.clause} {localized(c.chapter, 'title')}" for c in chapters]
    return {
        "tooltip": {},
        "grid": {"left": 160, "right": 32, "top": 8, "bottom": 24},
        "xAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "yAxis": {"type": "category", "data": names, "inverse": True},
        "series": [
            {
                "type": "bar",
                "name": _("Clauses ready"),
                "label": {"show": True, "position": "right", "formatter": "{c}%"},
                "data": [
                    {
                        "value": c.rollup.percent,
                        "url": f"/requirements/{c.chapter.id}",
                        "itemStyle": {"color": _colour(c.rollup.percent)},
                    }
                    for c in chapters
                ],
            }
        ],
    }


@router.get("/readiness")
def page(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    today = local_date(now)
    check = _check(request.query_params.get("check"))
    show_all = request.query_params.get("all") == "1"
    state = readiness.assess(session=session, today=today)
    gaps = state.gaps(check)
    gaps_only = wants_fragment(request) and request.headers.get("hx-target") in FRAGMENTS
    query = urlencode({"check": check.value} if check else {})
    context: dict[str, Any] = {
        "gaps": gaps if show_all else gaps[:GAP_CAP],
        "gap_total": len(gaps),
        "check": check,
        "checks": list(Check),
        "check_label": readiness.check_label,
        "fix_label": readiness.fix_label,
        "query": query,
    }
    if not gaps_only:
        # The checklist and chart are only drawn with the whole page.
        context |= {
            "state": state,
            "checklist": readiness.for_actor(
                readiness.checklist(session=session, today=today), actor
            ),
            "pre_check_label": readiness.pre_check_label,
            "chapter_chart": chapter_chart(state.chapters),
        }
    return render(request, "readiness/page.html", context, fragments=FRAGMENTS)


@router.get("/readiness/report")
def report(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    format: Literal["html", "pdf", "docx"] = "html",
) -> Response:
    document = readiness_report.report(session=session, today=local_date(now), actor=actor)
    if format == "pdf":
        return documents.pdf(request, document)
    if format == "docx":
        return documents.docx(document)
    return documents.page(request, document)


# --- JSON API -------------------------------------------------------------------------------


def _rollup(rollup: Rollup) -> dict[str, Any]:
    return {
        "total": rollup.total,
        "ready": rollup.ready,
        "excluded": rollup.excluded,
        "percent": rollup.percent,
        "passing": {check.value: rollup.passing(check) for check in Check},
    }


def _pre_check(result: PreCheckResult) -> dict[str, Any]:
    return {
        "check": result.check.value,
        "label": readiness.pre_check_label(result.check),
        "passed": result.passed,
        "summary": result.summary,
        "proofs": [{"text": p.text, "url": p.url, "ok": p.ok} for p in result.proofs],
    }


@api_router.get(
    "/readiness",
    response_model=dict[str, Any],
    summary="Certification readiness: overall, per chapter, and the pre-application checklist",
)
def api_readiness(session: SessionDep, now: Now, actor: ApiActor) -> Response:
    today = local_date(now)
    state = readiness.assess(session=session, today=today)
    catalogue = state.framework
    return json_answer(
        {
            "date": today.isoformat(),
            "framework": (
                {"id": catalogue.id, "code": catalogue.code, "version": catalogue.version}
                if catalogue
                else None
            ),
            "overall": _rollup(state.overall),
            "chapters": [
                {
                    "id": c.chapter.id,
                    "clause": c.chapter.clause,
                    "title_zh": c.chapter.title_zh,
                    "title_en": c.chapter.title_en,
                    **_rollup(c.rollup),
                }
                for c in state.chapters
            ],
            "checklist": [
                _pre_check(r)
                for r in readiness.for_actor(
                    readiness.checklist(session=session, today=today), actor
                )
            ],
        }
    )
