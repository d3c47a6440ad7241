"""Reminders around public holidays: each goes out on a working day of its own, none is
swallowed by another, and nothing is sent during the break."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from sqlmodel import Session, col, select

from app.models.initiative import Element, Initiative, Task
from app.models.notification import Channel, DueKind, Notification, ReminderRule
from app.models.user import Role
from app.services.reminders import service as reminders
from app.services.reminders.plan import current, escalation
from app.services.reminders.working_days import WorkCalendar
from app.settings import Settings
from tests.factories import NOW, make_capability, make_department, make_user

RULE = ReminderRule(kind=DueKind.task)  # 30, 7, 1 days before; on the day; every 3; escalate at 7
NATIONAL_DAY = date(2026, 10, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def daily_runs(due: date, start: date, end: date) -> dict[str, date]:
    """What a daily scheduler sends, as threshold → day, the ledger keeping each one once."""
    calendar = WorkCalendar()
    sent: dict[str, date] = {}
    for today in days(start, end):
        for threshold in (
            current(due, RULE, calendar, today),
            escalation(due, RULE, calendar, today),
        ):
            if threshold is not None:
                sent.setdefault(threshold.name, today)
    return sent


def test_the_2026_national_day_break_as_the_library_has_it() -> None:
    # The premise of the tests below, from chinese_calendar itself.
    span = days(date(2026, 9, 28), date(2026, 10, 12))
    assert [day for day in span if chinese_calendar.is_workday(day)] == [
        date(2026, 9, 28),
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),  # a Saturday, made up for the break (调休)
        date(2026, 10, 12),
    ]


class TestDueOnNationalDay:
    def test_the_day_before_and_the_due_reminder_both_go_out_before_the_break(self) -> None:
        sent = daily_runs(NATIONAL_DAY, date(2026, 8, 25), date(2026, 10, 20))
        assert sent["before:1"] == date(2026, 9, 29)
        assert sent["due"] == date(2026, 9, 30)
        assert sent["before:7"] == date(2026, 9, 24)

    def test_overdue_chasers_wait_for_the_first_working_day(self) -> None:
        sent = daily_runs(NATIONAL_DAY, date(2026, 8, 25), date(2026, 10, 20))
        overdue = {name: day for name, day in sent.items() if name.startswith("overdue:")}
        # Every 3 days would be 10-04 and 10-07, both in the break: one chaser after it.
        assert overdue == {
            "overdue:2": date(2026, 10, 8),
            "overdue:3": date(2026, 10, 10),
            "overdue:4": date(2026, 10, 13),
            "overdue:5": date(2026, 10, 16),
            "overdue:6": date(2026, 10, 19),
        }
        assert sent["escalate"] == date(2026, 10, 8)

    @pytest.mark.parametrize("today", days(date(2026, 10, 1), date(2026, 10, 7)))
    def test_nothing_goes_out_during_the_break(self, today: date) -> None:
        calendar = WorkCalendar()
        assert current(NATIONAL_DAY, RULE, calendar, today) is None
        assert escalation(NATIONAL_DAY, RULE, calendar, today) is None


def test_an_ordinary_weekday_due_date_keeps_its_days() -> None:
    due = date(2026, 11, 18)  # a Wednesday, no holiday near
    sent = daily_runs(due, date(2026, 10, 1), date(2026, 11, 30))
    assert sent == {
        "before:30": date(2026, 10, 19),
        "before:7": date(2026, 11, 11),
        "before:1": date(2026, 11, 17),
        "due": due,
        "overdue:1": date(2026, 11, 20),  # every 3 days: 11-21 is a Saturday, so Friday
        "overdue:2": date(2026, 11, 24),
        "escalate": date(2026, 11, 25),
        "overdue:3": date(2026, 11, 27),
        "overdue:4": date(2026, 11, 30),
    }


def test_the_inbox_over_national_day(session: Session, settings: Settings) -> None:
    """The report in full: a task due on National Day, the planner run every morning."""
    department = make_department(session)
    owner = make_user(session, roles=[Role.owner], department_id=department.id)
    head = make_user(session, roles=[Role.owner], department_id=department.id)
    department.head_id = head.id
    capability = make_capability(session)
    initiative = Initiative(capability_id=capability.id or 0, title="MES 一期", created_at=NOW)
    session.add(initiative)
    session.flush()
    task = Task(
        initiative_id=initiative.id or 0,
        title="设备数据采集",
        element=Element.technology,
        owner_id=owner.id,
        due_date=NATIONAL_DAY,
        created_at=NOW,
    )
    session.add(task)
    session.commit()

    for today in days(date(2026, 9, 24), date(2026, 10, 12)):
        morning = datetime.combine(today, time(10), SHANGHAI).astimezone(UTC)
        reminders.plan(session=session, now=morning, settings=settings)
        session.commit()

    inbox = session.exec(
        select(Notification).where(
            Notification.subject_type == "task",
            Notification.subject_id == task.id,
            col(Notification.channel) == Channel.in_app,
        )
    ).all()
    received = sorted(
        (row.created_at.astimezone(SHANGHAI).date(), row.recipient_id, row.threshold)
        for row in inbox
    )
    assert received == [
        (date(2026, 9, 24), owner.id, "before:7"),
        (date(2026, 9, 29), owner.id, "before:1"),
        (date(2026, 9, 30), owner.id, "due"),
        (date(2026, 10, 8), owner.id, "overdue:2"),
        (date(2026, 10, 8), head.id, "escalate"),
        (date(2026, 10, 10), owner.id, "overdue:3"),
    ]
    titles = {row.threshold: row.title for row in inbox}
    assert titles["before:1"] == "任务“设备数据采集”：还有 2 天到期（2026-10-01）"
    # Sent the day before, it must not say "due today".
    assert titles["due"] == "任务“设备数据采集”：还有 1 天到期，到期日为非工作日（2026-10-01）"
    assert titles["overdue:2"] == "任务“设备数据采集”：已逾期 7 天（2026-10-01）"
