"""The reminder engine: plan the ledger rows due now, then hand them to delivery.

Exactly once: a row is inserted only if its unique key (kind, subject, due date, threshold,
recipient, route) is new — a second run or a second scheduler inserts nothing; sending is
claimed row by row in `reminder_delivery`.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.i18n import N_, use_locale
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
from app.services import reminder_delivery, reminder_plan, working_days
from app.services.due_items import SOURCES, DueItem
from app.settings import Settings

BATCH = 500
KIND_LABELS = {
    DueKind.task: N_("Task"),
    DueKind.evidence_review: N_("Evidence review"),
    DueKind.goal_measurement: N_("Goal value"),
    DueKind.audit: N_("Audit"),
    DueKind.corrective_action: N_("Corrective action"),
    DueKind.nonconformity: N_("Nonconformity"),
    DueKind.review: N_("Management review"),
    DueKind.review_action: N_("Review action"),
    DueKind.milestone: N_("Certification milestone"),
}


def rules(*, session: Session) -> dict[DueKind, ReminderRule]:
    """Each kind's rule: the administrators' settings or the defaults (30/7/1, due, every 3, 7)."""
    stored = {r.kind: r for r in session.exec(select(ReminderRule)).all()}
    return {kind: stored.get(kind) or ReminderRule(kind=kind) for kind in DueKind}


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
        with use_locale(recipient.locale):
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
    delivered = reminder_delivery.deliver(
        session_factory=session_factory, now=now, settings=settings
    )
    report.sent, report.failed, report.skipped = delivered.sent, delivered.failed, delivered.skipped
    return report
