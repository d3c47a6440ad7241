"""ECharts options built on the server, so the same numbers also render as tables and tests
can read them. Templates embed them as JSON; static/charts.js draws them."""

from datetime import date
from typing import Any

from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.capability import Capability, Stage
from app.models.goal import Goal, GoalStatus, Measurement
from app.models.initiative import Element
from app.models.strategy import CompetitiveAdvantage, Strategy
from app.services.strategy.goal_status import Assessment, trajectory_value

STATUS_COLOURS = {
    GoalStatus.achieved: "#198754",
    GoalStatus.on_track: "#20c997",
    GoalStatus.at_risk: "#ffc107",
    GoalStatus.off_track: "#dc3545",
    GoalStatus.missing_data: "#adb5bd",
}
# Worst first: a capability shows the colour of its worst goal.
SEVERITY = [
    GoalStatus.off_track,
    GoalStatus.at_risk,
    GoalStatus.missing_data,
    GoalStatus.on_track,
    GoalStatus.achieved,
]
# The strategy map draws goals in one 600 px column: beyond this many they overlap into an
# unreadable band and make up most of the page's weight, so the map leaves them out (each
# capability still takes the colour of its weakest goal).
MAP_GOAL_LIMIT = 100


def worst(statuses: list[GoalStatus]) -> GoalStatus | None:
    for status in SEVERITY:
        if status in statuses:
            return status
    return None


def strategy_map(
    strategies: list[Strategy],
    advantages: list[CompetitiveAdvantage],
    capabilities: list[Capability],
    links: list[tuple[int, int]],
    goals: list[Goal],
    assessments: dict[int, Assessment],
) -> dict[str, Any]:
    """A layered graph: strategy → advantages → capabilities → goals, coloured by goal status;
    without the goal layer when there are more than MAP_GOAL_LIMIT goals."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    by_capability: dict[int, list[GoalStatus]] = {}
    for goal in goals:
        if goal.id in assessments:
            by_capability.setdefault(goal.capability_id, []).append(assessments[goal.id].status)

    def column(items: list[Any], x: int) -> list[float]:
        count = max(len(items), 1)
        return [round(100 + 600 * (i + 0.5) / count, 1) for i in range(len(items))]

    for strategy, y in zip(strategies, column(strategies, 0), strict=True):
        nodes.append(
            {
                "id": f"s{strategy.id}",
                "name": strategy.title,
                "x": 0,
                "y": y,
                "category": 0,
                "symbolSize": 46,
                "url": "/strategy",
            }
        )
    for advantage, y in zip(advantages, column(advantages, 1), strict=True):
        nodes.append(
            {
                "id": f"a{advantage.id}",
                "name": advantage.title,
                "x": 300,
                "y": y,
                "category": 1,
                "symbolSize": 36,
                "url": "/strategy",
            }
        )
        edges.append({"source": f"s{advantage.strategy_id}", "target": f"a{advantage.id}"})
    for capability, y in zip(capabilities, column(capabilities, 2), strict=True):
        status = worst(by_capability.get(capability.id or 0, []))
        node: dict[str, Any] = {
            "id": f"c{capability.id}",
            "name": capability.title,
            "x": 600,
            "y": y,
            "category": 2,
            "symbolSize": 30,
            "url": f"/capabilities/{capability.id}",
        }
        if status is not None:
            node["itemStyle"] = {"color": STATUS_COLOURS[status]}
        nodes.append(node)
    capability_ids = {c.id for c in capabilities}
    edges.extend({"source": f"a{a}", "target": f"c{c}"} for c, a in links if c in capability_ids)
    shown_goals = [g for g in goals if g.capability_id in capability_ids]
    if len(shown_goals) > MAP_GOAL_LIMIT:
        shown_goals = []
    for goal, y in zip(shown_goals, column(shown_goals, 3), strict=True):
        status = assessments[goal.id or 0].status
        nodes.append(
            {
                "id": f"g{goal.id}",
                "name": goal.indicator,
                "x": 900,
                "y": y,
                "category": 3,
                "symbolSize": 16,
                "url": f"/goals/{goal.id}",
                "status": label(status),
                "itemStyle": {"color": STATUS_COLOURS[status]},
            }
        )
        edges.append({"source": f"c{goal.capability_id}", "target": f"g{goal.id}"})
    categories = [
        {"name": _("Strategy")},
        {"name": _("Competitive advantages")},
        {"name": _("Capabilities")},
        {"name": _("Goals")},
    ]
    return {
        "tooltip": {},
        "legend": {"data": [c["name"] for c in categories], "bottom": 0},
        "series": [
            {
                "type": "graph",
                "layout": "none",
                "roam": True,
                "categories": categories,
                "label": {"show": True, "position": "right", "width": 160, "overflow": "truncate"},
                "lineStyle": {"color": "source", "curveness": 0.15, "opacity": 0.6},
                "emphasis": {"focus": "adjacency"},
                "data": nodes,
                "links": edges,
            }
        ],
    }


def goal_trend(goal: Goal, series: list[Measurement]) -> dict[str, Any]:
    """Measured values against the straight line from baseline to target."""
    points = [[m.period.isoformat(), m.value] for m in series]
    line = [
        [goal.baseline_date.isoformat(), goal.baseline],
        [goal.deadline.isoformat(), goal.target],
    ]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [_("Measured"), _("Planned trajectory")], "bottom": 0},
        "grid": {"left": 48, "right": 24, "top": 24, "bottom": 48},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": goal.unit, "scale": True},
        "series": [
            {"name": _("Measured"), "type": "line", "data": points, "symbolSize": 6},
            {
                "name": _("Planned trajectory"),
                "type": "line",
                "data": line,
                "symbol": "none",
                "lineStyle": {"type": "dashed"},
                "color": "#6c757d",
                "markLine": {
                    "symbol": "none",
                    "data": [{"yAxis": goal.target, "name": _("Target")}],
                    "label": {"formatter": _("Target")},
                },
            },
        ],
    }


def trajectory_table(goal: Goal, series: list[Measurement]) -> list[tuple[date, float, float]]:
    """(period, measured, planned) rows: the chart's numbers as a table."""
    return [(m.period, m.value, round(trajectory_value(goal, m.period), 2)) for m in series]


def status_bar(counts: dict[GoalStatus, int]) -> dict[str, Any]:
    statuses = list(SEVERITY)[::-1]
    return {
        "tooltip": {},
        "grid": {"left": 96, "right": 24, "top": 8, "bottom": 24},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [label(s) for s in statuses]},
        "series": [
            {
                "type": "bar",
                "data": [
                    {"value": counts.get(s, 0), "itemStyle": {"color": STATUS_COLOURS[s]}}
                    for s in statuses
                ],
            }
        ],
    }


def stage_bar(counts: dict[Stage, int]) -> dict[str, Any]:
    return {
        "tooltip": {},
        "grid": {"left": 40, "right": 16, "top": 8, "bottom": 40},
        "xAxis": {
            "type": "category",
            "data": [label(s) for s in Stage],
            "axisLabel": {"interval": 0},
        },
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "data": [counts.get(s, 0) for s in Stage], "color": "#0b4f8a"}],
    }


def element_heatmap(
    capabilities: list[Capability], matrix: dict[int, dict[Element, int]]
) -> dict[str, Any]:
    """Tasks per capability × element; an empty cell is an element not yet touched."""
    data = [
        [e_index, c_index, matrix.get(c.id or 0, {}).get(element, 0)]
        for c_index, c in enumerate(capabilities)
        for e_index, element in enumerate(Element)
    ]
    top = max([cell[2] for cell in data] + [1])
    return {
        "tooltip": {},
        "grid": {"left": 160, "right": 16, "top": 8, "bottom": 64},
        "xAxis": {
            "type": "category",
            "data": [label(e) for e in Element],
            "axisLabel": {"interval": 0},
        },
        "yAxis": {"type": "category", "data": [c.title for c in capabilities], "inverse": True},
        "visualMap": {
            "min": 0,
            "max": top,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#fff3cd", "#0b4f8a"]},
            "calculable": False,
        },
        "series": [{"type": "heatmap", "data": data, "label": {"show": True}}],
    }
