"""Window selection with frozen time: month ends, holidays, make-up days, missed days."""

from datetime import date

import pytest

from app.models.notification import DueKind, ReminderRule
from app.services.reminders.plan import current, escalation
from app.services.reminders.working_days import WorkCalendar

RULE = ReminderRule(kind=DueKind.task)  # 30, 7, 1 days before; on the day; every 3; escalate at 7


def name(due: date, today: date, calendar: WorkCalendar | None = None) -> str | None:
    threshold = current(due, RULE, calendar or WorkCalendar(), today)
    return threshold.name if threshold else None


@pytest.mark.parametrize(
    ("due", "today", "expected"),
    [
        (date(2026, 3, 31), date(2026, 2, 27), None),  # nothing yet
        # 30 days before is Sun Mar 1; Sat Feb 28 is a make-up working day (调休), so then.
        (date(2026, 3, 31), date(2026, 2, 28), "before:30"),
        (date(2026, 3, 31), date(2026, 3, 24), "before:7"),  # across the month end, by days
        (date(2026, 3, 31), date(2026, 3, 30), "before:1"),
        (date(2026, 3, 31), date(2026, 3, 31), "due"),
        # Overdue by 6 days falls on Mon Apr 6 (Qingming holiday) and moves to Fri Apr 3, where
        # it meets the 3-day reminder: one message goes out, the later threshold.
        (date(2026, 3, 31), date(2026, 4, 3), "overdue:2"),
        (date(2026, 3, 31), date(2026, 4, 8), "overdue:2"),
        (date(2026, 3, 31), date(2026, 4, 9), "overdue:3"),
    ],
)
def test_current_threshold(due: date, today: date, expected: str | None) -> None:
    assert name(due, today) == expected


def test_missed_days_catch_up_with_the_latest_threshold_only() -> None:
    # The scheduler was down from 30 days before until the day before: the 1-day reminder goes
    # out, the superseded 30- and 7-day ones do not.
    assert name(date(2026, 6, 30), date(2026, 6, 29)) == "before:1"


def test_national_day_holiday_moves_the_reminders_to_the_working_days_before() -> None:
    # Due Tue 2026-10-06, inside the break (10-01…10-07): the due-day reminder goes out on the
    # last working day before it, the 1-day one the day before, the 7-day one (09-29) before
    # that; each on a day of its own, and nothing during the break.
    calendar = WorkCalendar()
    sent = [current(date(2026, 10, 6), RULE, calendar, date(2026, 9, d)) for d in (28, 29, 30)]
    assert [(t.name, t.send_on.day) if t else None for t in sent] == [
        ("before:7", 28),
        ("before:1", 29),
        ("due", 30),
    ]
    assert current(date(2026, 10, 6), RULE, calendar, date(2026, 10, 5)) is None


def test_make_up_working_day_counts_as_working() -> None:
    # Due Sat 2026-02-21 inside the Spring Festival break (02-15…02-23): the 7-day, 1-day and
    # due-day reminders all move to Sat 02-14, a make-up working day (调休); one goes out.
    calendar = WorkCalendar()
    assert calendar.is_workday(date(2026, 2, 14))
    threshold = current(date(2026, 2, 21), RULE, calendar, date(2026, 2, 14))
    assert threshold is not None
    assert (threshold.name, threshold.send_on) == ("due", date(2026, 2, 14))


def test_admin_entries_win_over_the_library() -> None:
    calendar = WorkCalendar(overrides={date(2026, 5, 20): False})  # a company holiday
    threshold = current(date(2026, 5, 21), RULE, calendar, date(2026, 5, 19))
    assert threshold is not None
    assert (threshold.name, threshold.send_on) == ("before:1", date(2026, 5, 19))
    assert current(date(2026, 5, 21), RULE, calendar, date(2026, 5, 20)) is None


def test_year_without_library_data_falls_back_to_weekdays_and_says_so() -> None:
    calendar = WorkCalendar()
    threshold = current(date(2027, 3, 8), RULE, calendar, date(2027, 3, 8))  # Monday
    assert threshold is not None
    assert threshold.send_on == date(2027, 3, 8)
    assert calendar.is_workday(date(2027, 3, 6)) is False  # Saturday
    assert calendar.missing == {2027}


def test_escalation_after_seven_days() -> None:
    calendar = WorkCalendar()
    assert escalation(date(2026, 3, 2), RULE, calendar, date(2026, 3, 8)) is None
    assert escalation(date(2026, 3, 2), RULE, calendar, date(2026, 3, 9)) is not None
