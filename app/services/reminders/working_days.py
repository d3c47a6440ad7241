"""Chinese working days: public holidays and make-up working days (调休).

Administrators' entries win; otherwise the `chinese-calendar` library decides; for a year the
library has no data for, Monday–Friday is assumed and `missing_years` says so, so that admins
can enter that year's holidays themselves.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar
from sqlmodel import Session, col, select

from app.models.notification import CalendarDay

# No run of non-working days is longer than this (the Spring Festival and National Day weeks
# are at most nine days with adjacent weekends); it only bounds the search.
LONGEST_BREAK = 21


@dataclass
class WorkCalendar:
    overrides: dict[date, bool] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self.missing.add(day.year)
            return day.weekday() < 5

    def on_or_before(self, day: date) -> date:
        """The day itself if it is a working day, else the working day before it."""
        for _ in range(LONGEST_BREAK):
            if self.is_workday(day):
                return day
            day -= timedelta(days=1)
        return day

    def on_or_after(self, day: date) -> date:
        """The day itself if it is a working day, else the first working day after it."""
        for _ in range(LONGEST_BREAK):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        return day


def load(*, session: Session, start: date, end: date) -> WorkCalendar:
    """The calendar with the administrators' entries between two days."""
    rows = session.exec(
        select(CalendarDay).where(col(CalendarDay.day) >= start, col(CalendarDay.day) <= end)
    ).all()
    return WorkCalendar(overrides={r.day: r.is_workday for r in rows})


def missing_years(*, session: Session, years: list[int]) -> list[int]:
    """Years without library data and without any administrator entry: Monday–Friday is assumed."""
    result = []
    for year in years:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            entered = session.exec(
                select(CalendarDay)
                .where(
                    col(CalendarDay.day) >= date(year, 1, 1),
                    col(CalendarDay.day) <= date(year, 12, 31),
                )
                .limit(1)
            ).first()
            if entered is None:
                result.append(year)
    return result
