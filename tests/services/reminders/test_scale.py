"""The reminder scan at scale: a re-run looks up the ledger's keys in a few queries and inserts
nothing, however many items are due; a missing row is planned again with the same title."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, func, select

from app.models.initiative import Element, Initiative, Task
from app.models.notification import Channel, Notification, NotificationPreference
from app.models.user import Role
from app.services.reminders import service as reminders
from app.settings import Settings
from tests.factories import REMINDER_NOW as NOW
from tests.factories import make_capability, make_department, make_user

TODAY = date(2026, 11, 24)


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's connection executes inside the block."""
    statements: list[str] = []
    connection = session.connection()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", seen)


def seed_tasks(session: Session, count: int) -> None:
    """`count` open tasks due from 40 days ago to 30 days ahead: before, due, overdue and
    escalated thresholds, for owners in a department with a head, an administrator watching,
    one owner without e-mail and one in English."""
    admin = make_user(session, roles=[Role.admin])
    head = make_user(session, roles=[Role.owner])
    department = make_department(session, head_id=head.id)
    owners = [
        make_user(session, roles=[Role.owner], department_id=department.id),
        make_user(session, roles=[Role.owner], department_id=department.id, locale="en"),
        make_user(session, roles=[Role.owner], department_id=department.id),
    ]
    session.add(NotificationPreference(user_id=owners[2].id or 0, email=False))
    assert admin.id is not None
    capability = make_capability(session)
    initiative = Initiative(capability_id=capability.id or 0, title="MES 一期", created_at=NOW)
    session.add(initiative)
    session.flush()
    for n in range(count):
        session.add(
            Task(
                initiative_id=initiative.id or 0,
                title=f"设备数据采集 {n}",
                element=Element.technology,
                owner_id=owners[n % len(owners)].id,
                due_date=TODAY + timedelta(days=n % 71 - 40),
                created_at=NOW,
            )
        )
    session.commit()


def ledger_key(row: Notification) -> tuple[Any, ...]:
    return (row.kind, row.subject_id, row.due_date, row.threshold, row.recipient_id, row.route)


def ledger(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Notification)).one()


class TestIdempotentRerun:
    @pytest.mark.parametrize("count", [12, 150])
    def test_second_scan_inserts_nothing_in_a_bounded_number_of_statements(
        self, session: Session, settings: Settings, count: int
    ) -> None:
        seed_tasks(session, count)
        first = reminders.plan(session=session, now=NOW, settings=settings)
        session.commit()
        assert first.inserted == first.planned > count  # escalations add rows per item
        rows = ledger(session)

        with counted(session) as statements:
            second = reminders.plan(session=session, now=NOW, settings=settings)
        session.commit()

        assert (second.planned, second.inserted) == (first.planned, 0)
        assert ledger(session) == rows
        assert not [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        # The reads before planning (one per source and lookup) and one ledger query for the
        # one kind due: the same for 12 items as for 150.
        assert len(statements) <= 20

    def test_statement_count_does_not_grow_with_the_items_due(
        self, session: Session, settings: Settings
    ) -> None:
        seed_tasks(session, 10)
        reminders.plan(session=session, now=NOW, settings=settings)
        with counted(session) as few:
            reminders.plan(session=session, now=NOW, settings=settings)
        seed_tasks(session, 200)
        reminders.plan(session=session, now=NOW, settings=settings)
        with counted(session) as many:
            reminders.plan(session=session, now=NOW, settings=settings)
        assert len(many) == len(few)


class TestPartialLedger:
    def test_a_missing_row_is_planned_again_with_the_same_title_and_only_it(
        self, session: Session, settings: Settings
    ) -> None:
        seed_tasks(session, 30)
        reminders.plan(session=session, now=NOW, settings=settings)
        session.commit()
        gone = session.exec(
            select(Notification)
            .where(Notification.threshold == "escalate", Notification.channel == Channel.email)
            .order_by(col(Notification.id))
            .limit(1)
        ).one()
        key = ledger_key(gone)
        title = gone.title
        session.delete(gone)
        session.commit()

        again = reminders.plan(session=session, now=NOW, settings=settings)
        session.commit()

        assert again.inserted == 1
        back = session.exec(select(Notification).order_by(col(Notification.id).desc())).first()
        assert back is not None
        assert ledger_key(back) == key
        assert back.title == title

    def test_titles_follow_each_recipients_language(
        self, session: Session, settings: Settings
    ) -> None:
        seed_tasks(session, 9)
        reminders.plan(session=session, now=NOW, settings=settings)
        session.commit()
        titles = session.exec(select(Notification.title)).all()
        assert any(t.startswith("Task “") for t in titles)  # the English-speaking owner
        assert any(t.startswith("任务") for t in titles)
