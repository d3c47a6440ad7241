"""Which reminders should exist now: selected by window, never by date equality.

For each open item the engine finds the *current* threshold — the latest one whose send day
has arrived — so a missed day is caught up by the next run and an older, superseded reminder
is not sent late.

Nothing goes out on a non-working day. A reminder before the due date that would fall on one
moves to the working day before, and never onto the day of a later reminder: due on National
Day, the due-day reminder goes out on the last working day before the break and the 1-day
reminder on the working day before that. An overdue chaser moves back too while it stays after
the due date, otherwise to the first working day after it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.models.notification import ReminderRule
from app.services.reminders.working_days import WorkCalendar

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
    """The owner's track in order of send day: every reminder before the due date and on it,
    and the overdue chasers as far as today reaches."""
    ahead: list[Threshold] = []
    # Each reminder before the due date goes out strictly before the next one, so that a
    # holiday moving them back cannot make one swallow the other.
    later = due + timedelta(days=1)
    if rule.on_due_day:
        ahead.append(Threshold("due", calendar.on_or_before(due)))
        later = ahead[-1].send_on
    for days in sorted(set(rule.days_before)):
        raw = min(due - timedelta(days=days), later - timedelta(days=1))
        ahead.append(Threshold(f"before:{days}", calendar.on_or_before(raw)))
        later = ahead[-1].send_on
    yield from reversed(ahead)
    if rule.overdue_every_days > 0 and today > due:
        steps = min((today - due).days, OVERDUE_HORIZON_DAYS) // rule.overdue_every_days
        for n in range(1, steps + 2):
            raw = due + timedelta(days=n * rule.overdue_every_days)
            yield Threshold(f"overdue:{n}", _overdue_day(due, raw, calendar))


def _overdue_day(due: date, raw: date, calendar: WorkCalendar) -> date:
    """A working day after the due date: the one on or before `raw` if there is one."""
    day = calendar.on_or_before(raw)
    return day if day > due else calendar.on_or_after(due + timedelta(days=1))


def current(due: date, rule: ReminderRule, calendar: WorkCalendar, today: date) -> Threshold | None:
    """The owner's reminder that is due now, if any."""
    if not calendar.is_workday(today):
        return None  # the next working day catches up
    arrived = [
        (t.send_on, order, t)
        for order, t in enumerate(thresholds(due, rule, calendar, today))
        if t.send_on <= today
    ]
    if not arrived or (today - due).days > OVERDUE_HORIZON_DAYS:
        return None
    # A holiday can move two overdue chasers to the same working day; the later one wins.
    return max(arrived, key=lambda entry: entry[:2])[2]


def escalation(
    due: date, rule: ReminderRule, calendar: WorkCalendar, today: date
) -> Threshold | None:
    """The one escalation to the department head and the management representative."""
    if rule.escalate_after_days <= 0 or not calendar.is_workday(today):
        return None
    send_on = _overdue_day(due, due + timedelta(days=rule.escalate_after_days), calendar)
    if send_on <= today and (today - due).days <= OVERDUE_HORIZON_DAYS:
        return Threshold(ESCALATE, send_on)
    return None


def window(rules: Iterable[ReminderRule], today: date) -> tuple[date, date]:
    """Due dates worth looking at today."""
    furthest = max([max(r.days_before, default=0) for r in rules] + [0])
    return today - timedelta(days=OVERDUE_HORIZON_DAYS), today + timedelta(days=furthest + 21)
