"""The goal status rule, including lower-is-better, zero baseline, early achievement, no data."""

from datetime import date
from typing import Any

import pytest

from app.models.goal import Direction, Frequency, Goal, GoalStatus
from app.services.strategy.goal_status import assess, period_end, period_start, trajectory_value


def goal(**overrides: Any) -> Goal:
    values: dict[str, Any] = {
        "indicator": "设备联网率",
        "baseline": 40.0,
        "baseline_date": date(2025, 1, 1),
        "target": 80.0,
        "deadline": date(2026, 12, 31),
        "direction": Direction.increase,
        "frequency": Frequency.monthly,
        "capability_id": 1,
        **overrides,
    }
    return Goal(**values)


TODAY = date(2026, 1, 15)
DEC = date(2025, 12, 1)  # measured period ends 2026-01-01: almost exactly half-way


class TestHigherIsBetter:
    def test_on_the_line_is_on_track(self) -> None:
        assert assess(goal(), 61.0, DEC, TODAY).status is GoalStatus.on_track

    def test_a_little_behind_is_at_risk(self) -> None:
        assert assess(goal(), 58.0, DEC, TODAY).status is GoalStatus.at_risk

    def test_far_behind_is_off_track(self) -> None:
        assert assess(goal(), 50.0, DEC, TODAY).status is GoalStatus.off_track

    def test_target_reached_early_is_achieved(self) -> None:
        assert assess(goal(), 80.0, DEC, TODAY).status is GoalStatus.achieved

    def test_deadline_passed_without_target_is_off_track(self) -> None:
        result = assess(goal(deadline=date(2025, 12, 31)), 79.0, DEC, TODAY)
        assert result.status is GoalStatus.off_track


class TestLowerIsBetter:
    def test_falling_cost_on_schedule_is_on_track(self) -> None:
        g = goal(direction=Direction.decrease, baseline=120.0, target=80.0)
        assert assess(g, 99.0, DEC, TODAY).status is GoalStatus.on_track

    def test_cost_that_rose_is_off_track(self) -> None:
        g = goal(direction=Direction.decrease, baseline=120.0, target=80.0)
        assert assess(g, 125.0, DEC, TODAY).status is GoalStatus.off_track

    def test_at_or_below_target_is_achieved(self) -> None:
        g = goal(direction=Direction.decrease, baseline=120.0, target=80.0)
        assert assess(g, 79.5, DEC, TODAY).status is GoalStatus.achieved


class TestEdges:
    def test_zero_baseline(self) -> None:
        g = goal(baseline=0.0, target=10.0)
        assert assess(g, 5.1, DEC, TODAY).status is GoalStatus.on_track
        assert assess(g, 0.0, DEC, TODAY).status is GoalStatus.off_track

    def test_no_data_yet(self) -> None:
        result = assess(goal(), None, None, TODAY)
        assert result.status is GoalStatus.missing_data

    def test_stale_data_counts_as_missing(self) -> None:
        assert assess(goal(), 61.0, date(2025, 9, 1), TODAY).status is GoalStatus.missing_data

    def test_after_the_deadline_old_data_is_not_stale(self) -> None:
        g = goal(deadline=date(2025, 12, 31))
        result = assess(g, 80.0, DEC, date(2026, 9, 1))
        assert result.status is GoalStatus.achieved

    def test_target_equal_to_baseline(self) -> None:
        g = goal(baseline=50.0, target=50.0)
        assert assess(g, 50.0, DEC, TODAY).status is GoalStatus.achieved


@pytest.mark.parametrize(
    ("frequency", "day", "start"),
    [
        (Frequency.monthly, date(2026, 3, 31), date(2026, 3, 1)),
        (Frequency.quarterly, date(2026, 5, 20), date(2026, 4, 1)),
        (Frequency.yearly, date(2026, 11, 25), date(2026, 1, 1)),
    ],
)
def test_period_start(frequency: Frequency, day: date, start: date) -> None:
    assert period_start(frequency, day) == start


@pytest.mark.parametrize(
    ("frequency", "start", "end"),
    [
        (Frequency.monthly, date(2026, 12, 1), date(2027, 1, 1)),
        (Frequency.monthly, date(2026, 1, 31), date(2026, 2, 28)),  # a shorter month
        (Frequency.quarterly, date(2026, 10, 1), date(2027, 1, 1)),
        (Frequency.quarterly, date(2027, 11, 30), date(2028, 2, 29)),  # into a leap February
        (Frequency.yearly, date(2024, 2, 29), date(2025, 2, 28)),
    ],
)
def test_period_end_is_the_day_after_the_period(
    frequency: Frequency, start: date, end: date
) -> None:
    assert period_end(frequency, start) == end


def test_a_value_three_periods_old_is_missing_data_at_a_month_end() -> None:
    g = goal(frequency=Frequency.monthly)
    # The last value measured January; two periods later (end of April) it is stale.
    january = date(2026, 1, 31)
    assert assess(g, 45.0, january, date(2026, 4, 29)).status is not GoalStatus.missing_data
    assert assess(g, 45.0, january, date(2026, 4, 30)).status is GoalStatus.missing_data


def test_trajectory_runs_from_baseline_to_target() -> None:
    g = goal()
    assert trajectory_value(g, date(2025, 1, 1)) == 40.0
    assert trajectory_value(g, date(2026, 12, 31)) == 80.0
    assert trajectory_value(g, date(2030, 1, 1)) == 80.0
