"""Administering reminders: rules per kind, webhook channels, calendar entries, the log."""

from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.models.notification import (
    CalendarDay,
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    ReminderRule,
    WebhookChannel,
    WebhookKind,
)
from app.pagination import Page
from app.services.activity import service as activity
from app.services.reminders import outbound_url


class RuleForm(BaseModel):
    days_before: str = Field(default="30,7,1", max_length=60)
    on_due_day: bool = False
    overdue_every_days: int = Field(default=3, ge=0, le=90)
    escalate_after_days: int = Field(default=7, ge=0, le=365)
    enabled: bool = False

    @field_validator("days_before")
    @classmethod
    def _days(cls, value: str) -> str:
        parts = [p.strip() for p in value.replace("，", ",").split(",") if p.strip()]
        if not all(p.isdigit() and 1 <= int(p) <= 365 for p in parts):
            raise ValueError("days")
        return ",".join(parts)


def save_rule(
    *, session: Session, now: datetime, actor_id: int, kind: DueKind, form: RuleForm
) -> ReminderRule:
    rule = session.get(ReminderRule, kind) or ReminderRule(kind=kind)
    before = rule.model_dump(mode="json")
    rule.days_before = sorted({int(p) for p in form.days_before.split(",") if p}, reverse=True)
    rule.on_due_day, rule.enabled = form.on_due_day, form.enabled
    rule.overdue_every_days, rule.escalate_after_days = (
        form.overdue_every_days,
        form.escalate_after_days,
    )
    session.add(rule)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="reminder_rule",
        object_id=kind,
        before=before,
        after=rule.model_dump(mode="json"),
    )
    return rule


class WebhookForm(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    kind: WebhookKind
    url: str = Field(min_length=1, max_length=1000)
    secret: str = Field(default="", max_length=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url")
        return value


def add_webhook(
    *,
    session: Session,
    now: datetime,
    actor_id: int,
    form: WebhookForm,
    allowed_hosts: frozenset[str],
) -> WebhookChannel:
    """Add an IM robot or webhook; an address into an internal network is refused."""
    try:
        outbound_url.check_for_saving(form.url, allowed=allowed_hosts)
    except outbound_url.Refused as exc:
        raise Invalid(_(str(exc)), field="url") from None
    channel = WebhookChannel(**form.model_dump())
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=channel,
        object_type="webhook_channel",
        after={"name": form.name, "kind": form.kind},
    )
    return channel


def toggle_webhook(
    *, session: Session, now: datetime, actor_id: int, webhook_id: int
) -> WebhookChannel:
    channel = session.get(WebhookChannel, webhook_id)
    if channel is None:
        raise NotFound()
    channel.enabled = not channel.enabled
    session.add(channel)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="webhook_channel",
        object_id=webhook_id,
        after={"enabled": channel.enabled},
    )
    return channel


def set_day(
    *, session: Session, now: datetime, actor_id: int, day: date, is_workday: bool, note: str
) -> None:
    if len(note) > 100:
        raise Invalid(_("Use at most %(max)d characters.", max=100), field="note")
    row = session.get(CalendarDay, day) or CalendarDay(day=day, is_workday=is_workday)
    row.is_workday, row.note = is_workday, note.strip()
    session.add(row)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="calendar_day",
        object_id=day.isoformat(),
        after={"is_workday": is_workday, "note": note},
    )


def remove_day(*, session: Session, now: datetime, actor_id: int, day: date) -> None:
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound()
    session.delete(row)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="calendar_day",
        object_id=day.isoformat(),
    )


def calendar_days(*, session: Session, since: date) -> list[CalendarDay]:
    return list(
        session.exec(
            select(CalendarDay)
            .where(col(CalendarDay.day) >= since)
            .order_by(col(CalendarDay.day))
            .limit(400)
        ).all()
    )


def log(
    *,
    session: Session,
    page: Page,
    status: DeliveryStatus | None,
    channel: Channel | None,
    kind: DueKind | None,
) -> tuple[list[Notification], int]:
    query = select(Notification)
    if status is not None:
        query = query.where(Notification.status == status)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Notification.id).desc()).offset(page.offset).limit(page.size)
    ).all()
    return list(rows), total


def status_counts(*, session: Session) -> dict[DeliveryStatus, int]:
    rows = session.exec(
        select(Notification.status, func.count()).group_by(col(Notification.status))
    ).all()
    counts = dict.fromkeys(DeliveryStatus, 0)
    for status, count in rows:
        counts[DeliveryStatus(status)] = count
    return counts


RETRYABLE = (DeliveryStatus.failed, DeliveryStatus.dead)
RETRY_MAX = 1000


def retry(
    *, session: Session, now: datetime, actor_id: int, notification_ids: list[int] | None
) -> int:
    """Send failed or given-up messages again at the next pass, with a fresh set of
    attempts: the listed ones, or (None) every one given up. How many were put back."""
    if notification_ids is not None and not notification_ids:
        raise Invalid(_("Select at least one delivery."))
    if notification_ids is not None and len(notification_ids) > RETRY_MAX:
        raise Invalid(_("Select at most %(max)d deliveries at a time.", max=RETRY_MAX))
    # One statement picks and resets the rows, and only those still failed or dead: one a
    # scheduler has just claimed or sent is left alone.
    chosen = (
        col(Notification.status) == DeliveryStatus.dead
        if notification_ids is None
        else col(Notification.id).in_(notification_ids) & col(Notification.status).in_(RETRYABLE)
    )
    result = session.execute(
        update(Notification)
        .where(chosen)
        .values(status=DeliveryStatus.pending, attempts=0, next_attempt_at=now)
        .returning(col(Notification.id))
    )
    ids: list[int] = sorted(result.scalars())
    if not ids:
        if notification_ids is not None and not _any_exists(session, notification_ids):
            raise NotFound()
        raise Conflict(_("Only failed deliveries can be retried."))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="retry",
        object_type="notification",
        object_id=ids[0] if len(ids) == 1 else "bulk",
        after={"notification_ids": ids[:RETRY_MAX], "count": len(ids)},
    )
    return len(ids)


def _any_exists(session: Session, notification_ids: list[int]) -> bool:
    return (
        session.exec(
            select(Notification.id).where(col(Notification.id).in_(notification_ids)).limit(1)
        ).first()
        is not None
    )
