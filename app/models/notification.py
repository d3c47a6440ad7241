"""Reminders: per-kind rules, the delivery ledger, calendar overrides, channels, preferences."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TEXT_MAX = 4000


class DueKind(StrEnum):
    """What can fall due, each with its source in app/services/reminders/due_items.py."""

    task = "task"
    evidence_review = "evidence_review"
    goal_measurement = "goal_measurement"
    audit = "audit"  # an audit's planned start
    corrective_action = "corrective_action"
    nonconformity = "nonconformity"  # its deadline, and the effectiveness check
    review = "review"  # a management review's planned date
    review_action = "review_action"
    milestone = "milestone"  # a certification milestone's planned date


class Channel(StrEnum):
    in_app = "in_app"
    email = "email"
    webhook = "webhook"


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"  # claimed by one scheduler; recovered if it stays here too long
    sent = "sent"
    failed = "failed"  # will be retried at next_attempt_at
    dead = "dead"  # gave up after the last attempt; shown to administrators
    skipped = "skipped"  # deliberately not sent, with the reason in last_error


class ReminderRule(SQLModel, table=True):
    """When reminders for one kind of due item go out (days relative to the due date)."""

    __tablename__ = "reminder_rule"
    kind: DueKind = Field(primary_key=True, max_length=32)
    days_before: list[int] = Field(default_factory=lambda: [30, 7, 1], sa_type=JSON)
    on_due_day: bool = True
    overdue_every_days: int = 3
    escalate_after_days: int = 7
    enabled: bool = True


class Notification(SQLModel, table=True):
    """The ledger: one row per message that should exist. The unique key is what makes a
    reminder go out exactly once, whatever the number of schedulers or re-runs."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint(
            "kind",
            "subject_type",
            "subject_id",
            "due_date",
            "threshold",
            "recipient_id",
            "route",
            name="uq_notification_key",
        ),
        # Every page counts the signed-in user's unread messages (3.6 ms → index-only at
        # 50,000 notifications); the inbox reads the same range.
        Index("ix_notification_unread", "recipient_id", "channel", "read_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: DueKind = Field(max_length=32)
    subject_type: str = Field(max_length=32)
    subject_id: int
    due_date: date
    threshold: str = Field(max_length=24)  # before:7, due, overdue:2, escalate
    recipient_id: int = Field(foreign_key="user_account.id")  # ix_notification_unread
    channel: Channel = Field(max_length=16)
    webhook_id: int | None = Field(default=None, foreign_key="webhook_channel.id")
    # The destination in the unique key: "in_app", "email" or "webhook:<id>". Not NULL, because
    # NULLs never collide in a unique constraint.
    route: str = Field(max_length=32)
    title: str = Field(max_length=300)
    link: str = Field(default="", max_length=300)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, max_length=16, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=TEXT_MAX)
    created_at: datetime = utc_field()
    next_attempt_at: datetime = utc_field(index=True)
    claimed_at: datetime | None = utc_field(default=None)
    sent_at: datetime | None = utc_field(default=None)
    read_at: datetime | None = utc_field(default=None)


class CalendarDay(SQLModel, table=True):
    """An administrator's entry for a day: it wins over the holiday library."""

    __tablename__ = "calendar_day"
    day: date = Field(primary_key=True)
    is_workday: bool
    note: str = Field(default="", max_length=100)


class WebhookKind(StrEnum):
    wecom = "wecom"
    dingtalk = "dingtalk"
    feishu = "feishu"
    generic = "generic"


class WebhookChannel(SQLModel, table=True):
    __tablename__ = "webhook_channel"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: WebhookKind = Field(max_length=16)
    url: str = Field(max_length=1000)
    secret: str = Field(default="", max_length=200)
    enabled: bool = True


class NotificationPreference(SQLModel, table=True):
    __tablename__ = "notification_preference"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    email: bool = True
    daily_digest: bool = False
    quiet_start: int | None = Field(default=None, ge=0, le=23)  # local hour
    quiet_end: int | None = Field(default=None, ge=0, le=23)
    calendar_token_hash: str | None = Field(default=None, max_length=64, unique=True)


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduled jobs: one leader at a time, elected through the database."""

    __tablename__ = "scheduler_lease"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=100)
    expires_at: datetime = utc_field()
