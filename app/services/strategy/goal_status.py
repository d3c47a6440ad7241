"""The one rule that says whether a goal is on track — shown to users in these words:

1. No measurement yet, or none in the last two measuring periods up to today (up to the
   deadline, once it has passed): **missing data**.
2. The latest value has reached the target (at or above it when higher is better, at or below
   it when lower is better): **achieved** — even before the deadline.
3. Otherwise the latest value is compared with the straight line from the baseline (on the
   baseline date) to the target (on the deadline), at the end of the period it measures:
   progress = (value − baseline) / (target − baseline), expected = share of the time elapsed.
   progress ≥ expected: **on track**; within 10 percentage points below: **at risk**;
   further below, or the deadline has passed: **off track**.
"""

import calendar
from dataclasses import dataclass
from datetime import date

from app.models.goal import Direction, Frequency, Goal, GoalStatus

AT_RISK_MARGIN = 0.10
STALE_AFTER_PERIODS = 2

_MONTHS = {Frequency.monthly: 1, Frequency.quarterly: 3, Frequency.yearly: 12}


def _add_months(day: date, months: int) -> date:
    """The same day `months` later, on the month's last day where it is shorter. Plain
    arithmetic: a dashboard assesses hundreds of goals, and relativedelta was a third of it."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    if day.day <= 28:  # every month has it (periods start on the 1st)
        return date(year, month, day.day)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_start(frequency: Frequency, day: date) -> date:
    """The first day of the month, quarter or year that contains `day`."""
    if frequency is Frequency.monthly:
        return day.replace(day=1)
    if frequency is Frequency.quarterly:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def period_end(frequency: Frequency, start: date) -> date:
    """The first day after the period that starts on `start`."""
    return _add_months(start, _MONTHS[frequency])


def reached(goal: Goal, value: float) -> bool:
    return value >= goal.target if goal.direction == Direction.increase else value <= goal.target


def expected_share(goal: Goal, on: date) -> float:
    """The share of the baseline→deadline time elapsed on a day, between 0 and 1."""
    total = (goal.deadline - goal.baseline_date).days
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, (on - goal.baseline_date).days / total))


def trajectory_value(goal: Goal, on: date) -> float:
    """Where the value should be on a day, on the straight line from baseline to target."""
    return goal.baseline + (goal.target - goal.baseline) * expected_share(goal, on)


@dataclass(slots=True)
class Assessment:
    status: GoalStatus
    latest_value: float | None = None
    latest_period: date | None = None
    progress: float | None = None  # share of baseline→target achieved
    expected: float | None = None  # share of time elapsed at the measured period


def assess(
    goal: Goal, latest_value: float | None, latest_period: date | None, today: date
) -> Assessment:
    """Apply the rule in this module's docstring."""
    frequency = goal.frequency  # a Frequency, or its value: the same key in _MONTHS
    if latest_value is None or latest_period is None:
        return Assessment(GoalStatus.missing_data)
    stale_from = _add_months(latest_period, _MONTHS[frequency] * (STALE_AFTER_PERIODS + 1))
    if min(today, goal.deadline) >= stale_from:
        return Assessment(GoalStatus.missing_data, latest_value, latest_period)
    span = goal.target - goal.baseline
    progress = (latest_value - goal.baseline) / span if span else 0.0
    measured_at = period_end(frequency, latest_period)
    expected = expected_share(goal, measured_at)
    if reached(goal, latest_value):
        status = GoalStatus.achieved
    elif measured_at > goal.deadline or today > goal.deadline:
        status = GoalStatus.off_track
    elif progress >= expected:
        status = GoalStatus.on_track
    elif progress >= expected - AT_RISK_MARGIN:
        status = GoalStatus.at_risk
    else:
        status = GoalStatus.off_track
    return Assessment(status, latest_value, latest_period, progress, expected)
