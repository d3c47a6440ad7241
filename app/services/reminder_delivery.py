"""Delivering the ledger: claim a row (compare-and-set), commit, send, record the outcome.

Only whoever wins the claim sends a row. A row left in `sending` by a crashed scheduler is
taken over after CLAIM_TIMEOUT; that is the one case in which a message can go out twice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from app.i18n import N_, use_locale
from app.i18n import gettext as _
from app.models.notification import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
    WebhookChannel,
)
from app.models.user import User
from app.services import notify_channels
from app.services.due_items import SUBJECTS
from app.services.notify_channels import DeliveryError, Mail
from app.settings import Settings

# Why a message was skipped; stored as these message ids and translated where shown.
SKIP_INACTIVE = N_("The recipient is no longer active.")
SKIP_DELETED = N_("The item was deleted.")
SKIP_WEBHOOK = N_("The webhook channel was removed or disabled.")
SKIP_BAD_ADDRESS = N_("The recipient's e-mail address is not valid.")

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 6
BATCH = 500


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def _claim(session: Session, row: Notification, now: datetime) -> bool:
    """Compare-and-set: only one scheduler wins the row it saw."""
    result: Any = session.execute(
        update(Notification)
        .where(
            col(Notification.id) == row.id,
            col(Notification.status) == row.status,
            col(Notification.attempts) == row.attempts,
        )
        .values(status=DeliveryStatus.sending, claimed_at=now, attempts=row.attempts + 1)
    )
    return bool(result.rowcount == 1)


def _finish(
    session: Session,
    row_id: int,
    now: datetime,
    error: str | None,
    attempts: int,
    skip: bool = False,
) -> None:
    if skip:
        values: dict[str, Any] = {"status": DeliveryStatus.skipped, "last_error": error or ""}
    elif error is None:
        values = {"status": DeliveryStatus.sent, "sent_at": now, "last_error": ""}
    elif attempts >= MAX_ATTEMPTS:
        values = {"status": DeliveryStatus.dead, "last_error": error[:4000]}
    else:
        # Back off: 2, 4, 8, 16, 32 minutes.
        values = {
            "status": DeliveryStatus.failed,
            "last_error": error[:4000],
            "next_attempt_at": now + timedelta(minutes=2**attempts),
        }
    session.execute(update(Notification).where(col(Notification.id) == row_id).values(**values))


def _deferred(
    preference: NotificationPreference | None, local: datetime, settings: Settings
) -> datetime | None:
    """When an e-mail must wait: quiet hours, or the daily digest hour."""
    if preference is None:
        return None
    if preference.quiet_start is not None and preference.quiet_end is not None:
        start, end, hour = preference.quiet_start, preference.quiet_end, local.hour
        quiet = start <= hour < end if start < end else (hour >= start or hour < end)
        if quiet:
            resume = local.replace(hour=end, minute=0, second=0, microsecond=0)
            return resume if resume > local else resume + timedelta(days=1)
    if preference.daily_digest and local.hour < settings.digest_hour:
        return local.replace(hour=settings.digest_hour, minute=0, second=0, microsecond=0)
    return None


def deliver(*, session_factory: Any, now: datetime, settings: Settings) -> DeliveryReport:
    """Claim and send what is due; each claim is committed before the send."""
    report = DeliveryReport()
    with session_factory() as session:
        candidates = list(
            session.exec(
                select(Notification)
                .where(
                    or_(
                        col(Notification.status).in_(
                            [DeliveryStatus.pending, DeliveryStatus.failed]
                        )
                        & (col(Notification.next_attempt_at) <= now),
                        (col(Notification.status) == DeliveryStatus.sending)
                        & (col(Notification.claimed_at) < now - CLAIM_TIMEOUT),
                    )
                )
                .order_by(col(Notification.id))
                .limit(BATCH)
            ).all()
        )
        # Only the people this batch is for, not every user.
        recipient_ids = {row.recipient_id for row in candidates}
        users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(recipient_ids)))}
        preferences = {
            p.user_id: p
            for p in session.exec(
                select(NotificationPreference).where(
                    col(NotificationPreference.user_id).in_(recipient_ids)
                )
            )
        }
        webhooks = {w.id: w for w in session.exec(select(WebhookChannel)).all()}
    zone = ZoneInfo(settings.timezone)
    digests: dict[int, list[Notification]] = {}
    for row in candidates:
        with session_factory() as session:
            recipient = users.get(row.recipient_id)
            preference = preferences.get(row.recipient_id)
            if row.channel == Channel.email and recipient is not None:
                resume = _deferred(preference, now.astimezone(zone), settings)
                if resume is not None:
                    session.execute(
                        update(Notification)
                        .where(col(Notification.id) == row.id)
                        .values(next_attempt_at=resume.astimezone(now.tzinfo))
                    )
                    session.commit()
                    continue
            if not _claim(session, row, now):
                continue
            session.commit()
            attempts = row.attempts + 1
            error: str | None = None
            skip = False
            subject = SUBJECTS.get(row.subject_type)
            try:
                if recipient is None or not recipient.is_active:
                    error, skip = SKIP_INACTIVE, True
                elif subject is not None and session.get(subject, row.subject_id) is None:
                    error, skip = SKIP_DELETED, True
                elif row.channel == Channel.email:
                    try:
                        validate_email(recipient.email, check_deliverability=False)
                    except EmailNotValidError:
                        error, skip = SKIP_BAD_ADDRESS, True
                    else:
                        if preference is not None and preference.daily_digest:
                            digests.setdefault(recipient.id or 0, []).append(row)
                            continue
                        with use_locale(recipient.locale):
                            notify_channels.send_mail(settings, _mail(settings, recipient, [row]))
                elif row.channel == Channel.webhook:
                    webhook = webhooks.get(row.webhook_id)
                    if webhook is None or not webhook.enabled:
                        error, skip = SKIP_WEBHOOK, True
                    else:
                        notify_channels.post_webhook(
                            webhook, row.title, settings.public_url + row.link, now
                        )
            except DeliveryError as exc:
                error, skip = str(exc), isinstance(exc, notify_channels.NotConfigured)
            _finish(session, row.id or 0, now, error, attempts, skip)
            session.commit()
            _count(report, error, skip)
    for user_id, rows in digests.items():
        recipient = users[user_id]
        error = None
        try:
            with use_locale(recipient.locale):
                notify_channels.send_mail(settings, _mail(settings, recipient, rows))
        except DeliveryError as exc:
            error = str(exc)
        with session_factory() as session:
            for row in rows:
                _finish(session, row.id or 0, now, error, row.attempts + 1)
                _count(report, error, False)
            session.commit()
    return report


def _count(report: DeliveryReport, error: str | None, skip: bool) -> None:
    if skip:
        report.skipped += 1
    elif error is None:
        report.sent += 1
    else:
        report.failed += 1


def _mail(settings: Settings, recipient: User, rows: list[Notification]) -> Mail:
    from html import escape

    subject = rows[0].title if len(rows) == 1 else _("%(n)d reminders from Ronghe", n=len(rows))
    lines = [f"- {row.title}\n  {settings.public_url}{row.link}" for row in rows]
    items = "".join(
        f'<li><a href="{escape(settings.public_url + row.link)}">{escape(row.title)}</a></li>'
        for row in rows
    )
    greeting = _("Hello, %(name)s", name=recipient.name)
    intro = _("The following needs your attention:")
    return Mail(
        to=recipient.email,
        subject=f"[{_('Ronghe')}] {subject}",
        text=f"{greeting}\n\n{intro}\n" + "\n".join(lines),
        html=f"<p>{escape(greeting)}</p><p>{escape(intro)}</p><ul>{items}</ul>",
    )
