"""The executive dashboard: goals by status, capabilities by stage and grade, elements, PDCA."""

from collections import Counter

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.models.capability import Grade, Stage
from app.models.goal import GoalStatus
from app.models.initiative import Element
from app.services.strategy import capabilities as capability_service
from app.services.strategy import goals as goal_service
from app.services.strategy import pdca as pdca_service
from app.web import charts
from app.web.deps import CurrentActor, Now
from app.web.rendering import render

router = APIRouter(tags=["dashboard"], include_in_schema=False)

DECISION_STATUSES = (GoalStatus.off_track, GoalStatus.missing_data)
# An executive reads the worst few; the rest are one click away (the strategy map colours
# every goal by status, the capability list shows every element). Listing hundreds made the
# dashboard the slowest page and no easier to act on.
DECISION_LIMIT = 10


@router.get("/dashboard")
def dashboard(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    capabilities = capability_service.get_all(session=session)
    goals = goal_service.for_capabilities(
        session=session, capability_ids=[c.id for c in capabilities if c.id]
    )
    assessments = goal_service.assessments(session=session, goals=goals, today=local_date(now))
    status_counts = Counter(a.status for a in assessments.values())
    stage_counts = Counter(Stage(c.stage) for c in capabilities)
    grade_gap = [(c, Grade(c.current_grade), Grade(c.target_grade)) for c in capabilities]
    matrix = capability_service.element_matrix(session=session)
    untouched = [
        (c, elements)
        for c in capabilities
        if (elements := [e for e in Element if not matrix.get(c.id or 0, {}).get(e)])
    ]
    titles = {c.id: c.title for c in capabilities}
    decisions = sorted(
        (
            (g, titles.get(g.capability_id, ""), assessments[g.id or 0])
            for g in goals
            if assessments[g.id or 0].status in DECISION_STATUSES
        ),
        key=lambda row: (DECISION_STATUSES.index(row[2].status), row[0].deadline, row[0].id or 0),
    )
    return render(
        request,
        "dashboard.html",
        {
            "status_counts": {s: status_counts.get(s, 0) for s in GoalStatus},
            "stage_counts": {s: stage_counts.get(s, 0) for s in Stage},
            "grade_gap": grade_gap,
            "untouched": untouched[:DECISION_LIMIT],
            "untouched_total": len(untouched),
            "decisions": decisions[:DECISION_LIMIT],
            "decision_total": len(decisions),
            "cycle": pdca_service.current(session=session),
            "status_chart": charts.status_bar({s: status_counts.get(s, 0) for s in GoalStatus}),
            "stage_chart": charts.stage_bar({s: stage_counts.get(s, 0) for s in Stage}),
            "heatmap": charts.element_heatmap(capabilities, matrix),
            "capabilities": capabilities,
            "element_rows": capability_service.element_rows(capabilities, matrix),
            "elements": list(Element),
            "goal_total": len(goals),
        },
    )
