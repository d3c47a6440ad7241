"""Which reminders should exist now: selected by window, never by date equality.

For each open item the engine finds the *current* threshold — the latest one whose send day
has arrived — so a missed day is caught up by the next run and an older, superseded reminder
is not sent late. Send days that fall on a non-working day move to the working day before.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.models.notification import ReminderRule
from app.services.working_days import WorkCalendar

# Overdue items are chased for this long; after that they stay on the overdue lists.
OVERDUE_HORIZON_DAYS = 90
ESCALATE = "escalate"


@dataclass
class MemoCalendar(WorkCalendar):
    """A calendar for one pass that remembers each day's answer: the holiday library checks
    its whole table on every call, and a pass asks about the same few hundred days again and
    again."""

    known: dict[date, bool] = field(default_factory=dict, repr=False)

    def is_workday(self, day: date) -> bool:
        answer = self.known.get(day)
        if answer is None:
            answer = self.known[day] = super().is_workday(day)
        return answer


@dataclass(frozen=True)
class Threshold:
    name: str  # before:7, due, overdue:2, escalate
    send_on: date


def thresholds(
    due: date, rule: ReminderRule, calendar: WorkCalendar, today: date
) -> Iterable[Threshold]:
    """Every threshold of the owner's track whose send day is today or earlier."""
    for days in sorted(set(rule.days_before), reverse=True):
        yield Threshold(f"before:{days}", calendar.on_or_before(due - timedelta(days=days)))
    if rule.on_due_day:
        yield Threshold("due", calendar.on_or_before(due))
    if rule.overdue_every_days > 0 and today > due:
        steps = min((today - due).days, OVERDUE_HORIZON_DAYS) // rule.overdue_every_days
        for n in range(1, steps + 2):
            raw = due + timedelta(days=n * rule.overdue_every_days)
            yield Threshold(
                f"overdue:{n}", max(calendar.on_or_before(raw), due + timedelta(days=1))
            )


def current(due: date, rule: ReminderRule, calendar: WorkCalendar, today: date) -> Threshold | None:
    """The owner's reminder that is due now, if any."""
    arrived = [
        (t.send_on, order, t)
        for order, t in enumerate(thresholds(due, rule, calendar, today))
        if t.send_on <= today
    ]
    if not arrived or (today - due).days > OVERDUE_HORIZON_DAYS:
        return None
    # A holiday can move two thresholds to the same working day; the later one wins.
    return max(arrived, key=lambda entry: entry[:2])[2]


def escalation(
    due: date, rule: ReminderRule, calendar: WorkCalendar, today: date
) -> Threshold | None:
    """The one escalation to the department head and the management representative."""
    if rule.escalate_after_days <= 0:
        return None
    send_on = max(
        calendar.on_or_before(due + timedelta(days=rule.escalate_after_days)),
        due + timedelta(days=1),
    )
    if send_on <= today and (today - due).days <= OVERDUE_HORIZON_DAYS:
        return Threshold(ESCALATE, send_on)
    return None


def window(rules: Iterable[ReminderRule], today: date) -> tuple[date, date]:
    """Due dates worth looking at today."""
    furthest = max([max(r.days_before, default=0) for r in rules] + [0])
    return today - timedelta(days=OVERDUE_HORIZON_DAYS), today + timedelta(days=furthest + 21)
