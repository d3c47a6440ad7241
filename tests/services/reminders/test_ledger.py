"""Writing the ledger: rows whose key is already there are skipped, and the count is exact
(the PostgreSQL path copies into a temporary table first; SQLite inserts in batches)."""

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.models.notification import Channel, DeliveryStatus, DueKind, Notification
from app.services.reminders import ledger as reminder_ledger
from tests.factories import REMINDER_NOW as NOW
from tests.factories import make_user


def _row(recipient_id: int, subject_id: int, threshold: str = "due") -> dict[str, Any]:
    return {
        "kind": DueKind.task,
        "subject_type": "task",
        "subject_id": subject_id,
        "due_date": date(2026, 11, 24),
        "threshold": threshold,
        "recipient_id": recipient_id,
        "channel": Channel.in_app,
        "webhook_id": None,
        "title": f"任务 {subject_id} 今日到期",
        "link": f"/tasks/{subject_id}",
        "route": "in_app",
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "last_error": "",
        "created_at": NOW,
        "next_attempt_at": NOW,
    }


def test_only_new_keys_are_inserted_and_counted(session: Session) -> None:
    user = make_user(session)
    assert user.id is not None
    assert (
        reminder_ledger.insert_new(session=session, rows=(_row(user.id, n) for n in range(3))) == 3
    )
    # Two of the first three again, plus 1,500 new ones: more than one SQLite batch.
    again = [_row(user.id, n) for n in (1, 2)] + [_row(user.id, n) for n in range(3, 1503)]
    assert reminder_ledger.insert_new(session=session, rows=iter(again)) == 1500
    assert reminder_ledger.insert_new(session=session, rows=iter([])) == 0

    stored = session.exec(select(Notification).where(Notification.recipient_id == user.id)).all()
    assert len(stored) == 1503
    first = next(n for n in stored if n.subject_id == 0)
    # Enums are stored as their values and timestamps keep their zone, as through the ORM.
    assert (first.kind, first.channel, first.status) == ("task", "in_app", "pending")
    assert first.created_at == NOW
    assert first.title == "任务 0 今日到期"


def test_a_second_call_in_the_same_transaction_starts_from_an_empty_staging_table(
    session: Session,
) -> None:
    user = make_user(session)
    assert user.id is not None
    assert reminder_ledger.insert_new(session=session, rows=[_row(user.id, 1, "before:7")]) == 1
    assert reminder_ledger.insert_new(session=session, rows=[_row(user.id, 1, "due")]) == 1
    thresholds = session.exec(
        select(Notification.threshold)
        .where(Notification.recipient_id == user.id)
        .order_by(col(Notification.id))
    ).all()
    assert thresholds == ["before:7", "due"]
