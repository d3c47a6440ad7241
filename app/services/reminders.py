"""The reminder engine: plan the ledger rows due now, then claim and deliver them.

Exactly once: a row is inserted only if its unique key (kind, subject, due date, threshold,
recipient, channel) is new — a second run or a second scheduler inserts nothing. A row is
sent only by whoever wins the compare-and-set claim. A crash after the claim leaves the row
in `sending`; after CLAIM_TIMEOUT the next run takes it over (the one case in which a message
can go out twice is a crash in the middle of the send itself).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.i18n import N_, current_locale
from app.i18n import gettext as _
from app.models.department import Department
from app.models.notification import (
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    NotificationPreference,
    ReminderRule,
    WebhookChannel,
)
from app.models.user import Role, User, UserRole
from app.services import notify_channels, reminder_plan, working_days
from app.services.due_items import SOURCES, SUBJECTS, DueItem
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
KIND_LABELS = {
    DueKind.task: N_("Task"),
    DueKind.evidence_review: N_("Evidence review"),
    DueKind.goal_measurement: N_("Goal value"),
}


def rules(*, session: Session) -> dict[DueKind, ReminderRule]:
    """Each kind's rule: the administrators' settings or the defaults (30/7/1, due, every 3, 7)."""
    stored = {r.kind: r for r in session.exec(select(ReminderRule)).all()}
    return {kind: stored.get(kind) or ReminderRule(kind=kind) for kind in DueKind}


@contextmanager
def _locale(locale: str) -> Iterator[None]:
    token = current_locale.set(locale)
    try:
        yield
    finally:
        current_locale.reset(token)


def _title(item: DueItem, threshold: str, owner_name: str, today: Any) -> str:
    kind = _(KIND_LABELS[item.kind])
    late = (today - item.due_date).days
    if threshold.startswith("before:"):
        when = _("due in %(n)d days", n=(item.due_date - today).days)
    elif threshold == "due":
        when = _("due today")
    elif threshold == reminder_plan.ESCALATE:
        when = _("%(n)d days overdue — escalated (owner: %(owner)s)", n=late, owner=owner_name)
    else:
        when = _("%(n)d days overdue", n=late)
    return _(
        "%(kind)s “%(title)s”: %(when)s (%(due)s)",
        kind=kind,
        title=item.title,
        when=when,
        due=item.due_date,
    )


@dataclass
class RunReport:
    planned: int = 0
    inserted: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    missing_years: list[int] = field(default_factory=list)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING counts what was really inserted; rowcount is -1 for this on PostgreSQL.
    statement = (
        insert(Notification).values(rows).on_conflict_do_nothing().returning(col(Notification.id))
    )
    return len(session.execute(statement).all())


def plan(
    *, session: Session, now: datetime, settings: Settings, dry_run: bool = False
) -> RunReport:
    """Insert the ledger rows for every reminder due now that does not exist yet."""
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    kind_rules = rules(session=session)
    start, end = reminder_plan.window(kind_rules.values(), today)
    calendar = working_days.load(session=session, start=start - timedelta(days=30), end=end)
    items = [
        item
        for kind, fetch in SOURCES.items()
        if kind_rules[kind].enabled
        for item in fetch(session, start, end, None)
    ]
    users = {u.id: u for u in session.exec(select(User).where(col(User.is_active))).all()}
    preferences = {p.user_id: p for p in session.exec(select(NotificationPreference)).all()}
    heads = dict(session.exec(select(Department.id, Department.head_id)).all())
    representatives = list(
        session.exec(select(UserRole.user_id).where(UserRole.role == Role.admin)).all()
    )
    webhooks = list(session.exec(select(WebhookChannel).where(col(WebhookChannel.enabled))).all())
    rows: list[dict[str, Any]] = []

    def add(
        item: DueItem,
        threshold: str,
        recipient: User,
        channel: Channel,
        webhook_id: int | None = None,
    ) -> None:
        owner = users.get(item.owner_id)
        with _locale(recipient.locale):
            title = _title(item, threshold, owner.name if owner else "", today)
        rows.append(
            {
                "kind": item.kind,
                "subject_type": item.subject_type,
                "subject_id": item.subject_id,
                "due_date": item.due_date,
                "threshold": threshold,
                "recipient_id": recipient.id,
                "channel": channel,
                "webhook_id": webhook_id,
                "title": title[:300],
                "link": item.link,
                "route": f"webhook:{webhook_id}" if webhook_id is not None else str(channel),
                "status": DeliveryStatus.pending,
                "attempts": 0,
                "last_error": "",
                "created_at": now,
                "next_attempt_at": now,
            }
        )

    def personal(item: DueItem, threshold: str, recipient: User) -> None:
        add(item, threshold, recipient, Channel.in_app)
        preference = preferences.get(recipient.id or 0)
        if preference is None or preference.email:
            add(item, threshold, recipient, Channel.email)

    for item in items:
        rule = kind_rules[item.kind]
        owner = users.get(item.owner_id)
        if owner is None:
            continue
        threshold = reminder_plan.current(item.due_date, rule, calendar, today)
        if threshold is not None:
            personal(item, threshold.name, owner)
            for webhook in webhooks:
                add(item, threshold.name, owner, Channel.webhook, webhook.id)
        if reminder_plan.escalation(item.due_date, rule, calendar, today) is not None:
            contacts = {heads.get(owner.department_id), *representatives} - {None, owner.id}
            for contact_id in sorted(c for c in contacts if c is not None):
                if contact_id in users:
                    personal(item, reminder_plan.ESCALATE, users[contact_id])
    report = RunReport(planned=len(rows), missing_years=sorted(calendar.missing))
    if not dry_run:
        for offset in range(0, len(rows), BATCH):
            report.inserted += _insert_ignoring_duplicates(session, rows[offset : offset + BATCH])
    return report


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


def deliver(*, session_factory: Any, now: datetime, settings: Settings) -> RunReport:
    """Claim and send what is due; each claim is committed before the send."""
    report = RunReport()
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
                        with _locale(recipient.locale):
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
            with _locale(recipient.locale):
                notify_channels.send_mail(settings, _mail(settings, recipient, rows))
        except DeliveryError as exc:
            error = str(exc)
        with session_factory() as session:
            for row in rows:
                _finish(session, row.id or 0, now, error, row.attempts + 1)
                _count(report, error, False)
            session.commit()
    return report


def _count(report: RunReport, error: str | None, skip: bool) -> None:
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


def acquire_lease(
    *, session: Session, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Become (or stay) the leader for `ttl`; false when another live holder has it."""
    from app.models.notification import SchedulerLease

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(SchedulerLease)
        .values(name=name, holder=holder, expires_at=now + ttl)
        .on_conflict_do_nothing()
    )
    result: Any = session.execute(
        update(SchedulerLease)
        .where(
            col(SchedulerLease.name) == name,
            or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    return bool(result.rowcount == 1)


def run(
    *, session_factory: Any, now: datetime, settings: Settings, dry_run: bool = False
) -> RunReport:
    """One pass: plan (committed), then deliver."""
    with session_factory() as session:
        report = plan(session=session, now=now, settings=settings, dry_run=dry_run)
        if dry_run:
            session.rollback()
            return report
        session.commit()
    delivered = deliver(session_factory=session_factory, now=now, settings=settings)
    report.sent, report.failed, report.skipped = delivered.sent, delivered.failed, delivered.skipped
    return report
