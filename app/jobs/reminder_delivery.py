"""Delivering the ledger: claim a row (compare-and-set), commit, send, record the outcome.

Only whoever wins the claim sends a row. A row left in `sending` by a crashed scheduler is
taken over after CLAIM_TIMEOUT; that is the one case in which a message can go out twice.

Each row is one unit: whatever goes wrong while building or sending it is recorded on that
row as a failed attempt, and the pass goes on with the next one. A row must never be able to
stop the pass, or it would be claimed and crash again every ten minutes and block every
message behind it. A daily digest is written row by row, so a row that cannot be written
fails alone; only the sending, which the digest's rows truly share, fails them together.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
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
from app.services.reminders import channels as notify_channels
from app.services.reminders.channels import DeliveryError, Mail
from app.services.reminders.due_items import SUBJECTS
from app.settings import Settings

log = logging.getLogger(__name__)

# Why a message was skipped or failed; stored as these message ids and translated where shown.
SKIP_INACTIVE = N_("The recipient is no longer active.")
SKIP_DELETED = N_("The item was deleted.")
SKIP_WEBHOOK = N_("The webhook channel was removed or disabled.")
SKIP_BAD_ADDRESS = N_("The recipient's e-mail address is not valid.")
UNEXPECTED = N_("The message could not be sent because of an internal error; see the server log.")
INTERRUPTED = N_("Sending this message was interrupted too many times.")

CLAIM_TIMEOUT = timedelta(minutes=10)
BATCH = 500
# Retries back off exponentially from 5 minutes, capped at 8 hours: after the n-th failed
# attempt the next one is min(5 min × 2^(n-1), 8 h) later, i.e. 5, 10, 20, 40, 80, 160, 320,
# 480 and 480 minutes. The tenth failure, about 26.6 hours after the first attempt, ends the row
# `dead`: a relay that is down overnight or for most of a day loses nothing, and what is given
# up is shown to administrators, who can send it again.
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=8)
MAX_ATTEMPTS = 10


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    doubled: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(doubled, LONGEST_RETRY)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def _swap(session: Session, row: Notification, **values: Any) -> bool:
    """Compare-and-set: change the row only if it is still as this pass read it (same status,
    same attempts). Of two schedulers that read the same row, exactly one wins; only the
    winner may act on it."""
    result: Any = session.execute(
        update(Notification)
        .where(
            col(Notification.id) == row.id,
            col(Notification.status) == row.status,
            col(Notification.attempts) == row.attempts,
        )
        .values(**values)
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
        values = {
            "status": DeliveryStatus.failed,
            "last_error": error[:4000],
            "next_attempt_at": now + retry_delay(attempts),
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


def _outcome(send: Callable[[], str | None], what: str, unit_id: object) -> tuple[str | None, bool]:
    """Run one unit's send, which returns why it was skipped or None: (error, skip). A
    channel's refusal is retried; so is anything else that breaks, logged with its trace,
    because one unit must not stop the pass."""
    try:
        reason = send()
    except notify_channels.NotConfigured as exc:
        return str(exc), True
    except DeliveryError as exc:
        return str(exc), False
    except Exception:
        log.exception("reminder delivery: %s %s failed", what, unit_id)
        return UNEXPECTED, False
    return reason, reason is not None


@dataclass(frozen=True)
class _Part:
    """One reminder as it appears in an e-mail."""

    title: str
    text: str
    html: str


@dataclass
class _Batch:
    """What one pass works on, read once: the rows due and the people and channels they need."""

    candidates: list[Notification]
    users: dict[int | None, User]
    preferences: dict[int, NotificationPreference]
    webhooks: dict[int | None, WebhookChannel]


def _load(session: Session, now: datetime) -> _Batch:
    candidates = list(
        session.exec(
            select(Notification)
            .where(
                or_(
                    col(Notification.status).in_([DeliveryStatus.pending, DeliveryStatus.failed])
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
    return _Batch(
        candidates=candidates,
        users={u.id: u for u in session.exec(select(User).where(col(User.id).in_(recipient_ids)))},
        preferences={
            p.user_id: p
            for p in session.exec(
                select(NotificationPreference).where(
                    col(NotificationPreference.user_id).in_(recipient_ids)
                )
            )
        },
        webhooks={w.id: w for w in session.exec(select(WebhookChannel)).all()},
    )


def _resume_at(
    row: Notification, batch: _Batch, now: datetime, settings: Settings
) -> datetime | None:
    """When a deferred e-mail may go; None to send it now (also when its preference is
    unusable, which must not hold the message back)."""
    recipient = batch.users.get(row.recipient_id)
    if row.channel != Channel.email or recipient is None:
        return None
    try:
        resume = _deferred(
            batch.preferences.get(row.recipient_id),
            now.astimezone(ZoneInfo(settings.timezone)),
            settings,
        )
    except Exception:
        log.exception("reminder delivery: preferences of user %s unusable", row.recipient_id)
        return None
    return None if resume is None else resume.astimezone(now.tzinfo)


def deliver(*, session_factory: Any, now: datetime, settings: Settings) -> DeliveryReport:
    """Claim and send what is due, one row at a time; each claim is committed before the send."""
    report = DeliveryReport()
    with session_factory() as session:
        batch = _load(session, now)
    digests: dict[int, list[tuple[Notification, _Part]]] = {}
    for row in batch.candidates:
        with session_factory() as session:
            _deliver_one(session, row, batch, settings, now, digests, report)
    for user_id, queued in digests.items():
        _send_digest(session_factory, batch.users[user_id], queued, settings, now, report)
    return report


def _deliver_one(
    session: Session,
    row: Notification,
    batch: _Batch,
    settings: Settings,
    now: datetime,
    digests: dict[int, list[tuple[Notification, _Part]]],
    report: DeliveryReport,
) -> None:
    """Wait, give up, or claim → send → finish one row."""
    resume = _resume_at(row, batch, now, settings)
    if resume is not None:
        _postpone(session, row, resume)
    elif row.status == DeliveryStatus.sending and row.attempts >= MAX_ATTEMPTS:
        _give_up(session, row, report)
    elif _claim(session, row, now):

        def send() -> str | None:
            return _send_one(session, row, batch, settings, now, digests)

        error, skip = _outcome(send, "notification", row.id)
        if any(queued is row for queued, _written in digests.get(row.recipient_id, [])):
            return  # goes out with the recipient's digest
        session.rollback()  # whatever the failed send left half-done in this session
        _finish(session, row.id or 0, now, error, row.attempts + 1, skip)
        session.commit()
        _count(report, error, skip)


def _claim(session: Session, row: Notification, now: datetime) -> bool:
    """Race: two schedulers (a lease handed over mid-pass, or `ronghe reminders run` beside
    the embedded one) may have read the same row. The compare-and-set on status and attempts
    lets exactly one of them move it to `sending`; that commit comes before the send, so a
    process killed while sending leaves the row visibly `sending`, never unsent and unclaimed."""
    if not _swap(
        session, row, status=DeliveryStatus.sending, claimed_at=now, attempts=row.attempts + 1
    ):
        return False
    session.commit()
    return True


def _postpone(session: Session, row: Notification, resume: datetime) -> None:
    """Quiet hours or the digest hour: the row waits, unclaimed."""
    session.execute(
        update(Notification).where(col(Notification.id) == row.id).values(next_attempt_at=resume)
    )
    session.commit()


def _give_up(session: Session, row: Notification, report: DeliveryReport) -> None:
    """Every attempt so far ended with its scheduler dying mid-send: the row ends `dead`."""
    if _swap(session, row, status=DeliveryStatus.dead, last_error=INTERRUPTED):
        session.commit()
        report.failed += 1


def _send_digest(
    session_factory: Any,
    recipient: User,
    queued: list[tuple[Notification, _Part]],
    settings: Settings,
    now: datetime,
    report: DeliveryReport,
) -> None:
    """One e-mail with every row written for this recipient; all of them finish together."""
    parts = [part for _row, part in queued]

    def send() -> None:
        with use_locale(recipient.locale):
            notify_channels.send_mail(settings, _mail(recipient, parts))

    # Only what the rows share is left to fail here: the recipient's own mail and the relay.
    error, skip = _outcome(send, "digest for user", recipient.id)
    with session_factory() as session:
        for row, _written in queued:
            _finish(session, row.id or 0, now, error, row.attempts + 1, skip)
            _count(report, error, skip)
        session.commit()


def _send_one(
    session: Session,
    row: Notification,
    batch: _Batch,
    settings: Settings,
    now: datetime,
    digests: dict[int, list[tuple[Notification, _Part]]],
) -> str | None:
    """Send one claimed row; the reason it was skipped, or None. A digest e-mail is only
    written (so that a row which cannot be written fails alone) and queued in `digests`, to
    go out with the others for the same recipient."""
    recipient = batch.users.get(row.recipient_id)
    preference = batch.preferences.get(row.recipient_id)
    subject = SUBJECTS.get(row.subject_type)
    if recipient is None or not recipient.is_active:
        return SKIP_INACTIVE
    if subject is not None and session.get(subject, row.subject_id) is None:
        return SKIP_DELETED
    if row.channel == Channel.email:
        try:
            validate_email(recipient.email, check_deliverability=False)
        except EmailNotValidError:
            return SKIP_BAD_ADDRESS
        if preference is not None and preference.daily_digest:
            part = _part(settings, row)  # before the queue is touched: it may fail
            digests.setdefault(row.recipient_id, []).append((row, part))
            return None
        with use_locale(recipient.locale):
            notify_channels.send_mail(settings, _mail(recipient, [_part(settings, row)]))
    elif row.channel == Channel.webhook:
        webhook = batch.webhooks.get(row.webhook_id)
        if webhook is None or not webhook.enabled:
            return SKIP_WEBHOOK
        notify_channels.post_webhook(
            settings, webhook, row.title, settings.public_url + row.link, now
        )
    return None


def _count(report: DeliveryReport, error: str | None, skip: bool) -> None:
    if skip:
        report.skipped += 1
    elif error is None:
        report.sent += 1
    else:
        report.failed += 1


def _part(settings: Settings, row: Notification) -> _Part:
    link = settings.public_url + row.link
    return _Part(
        title=row.title,
        text=f"- {row.title}\n  {link}",
        html=f'<li><a href="{escape(link)}">{escape(row.title)}</a></li>',
    )


def _mail(recipient: User, parts: list[_Part]) -> Mail:
    subject = parts[0].title if len(parts) == 1 else _("%(n)d reminders from Ronghe", n=len(parts))
    greeting = _("Hello, %(name)s", name=recipient.name)
    intro = _("The following needs your attention:")
    return Mail(
        to=recipient.email,
        subject=f"[{_('Ronghe')}] {subject}",
        text=f"{greeting}\n\n{intro}\n" + "\n".join(part.text for part in parts),
        html=f"<p>{escape(greeting)}</p><p>{escape(intro)}</p>"
        f"<ul>{''.join(part.html for part in parts)}</ul>",
    )
