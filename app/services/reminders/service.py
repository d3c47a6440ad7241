"""The reminder engine: plan the ledger rows due now, then hand them to delivery.

Exactly once: a row is inserted only if its unique key (kind, subject, due date, threshold,
recipient, route) is new — a second run or a second scheduler inserts nothing; sending is
claimed row by row in `app.jobs.reminder_delivery`; `app.jobs.reminder_pass` runs both.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import String, or_, type_coerce, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.actor import Actor
from app.i18n import gettext as _
from app.i18n import use_locale
from app.i18n.labels import label
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
from app.services.evidence import access as evidence_access
from app.services.reminders import ledger as reminder_ledger
from app.services.reminders import plan as reminder_plan
from app.services.reminders import working_days
from app.services.reminders.due_items import SOURCES, DueItem
from app.settings import Settings


def rules(*, session: Session) -> dict[DueKind, ReminderRule]:
    """Each kind's rule: the administrators' settings or the defaults (30/7/1, due, every 3, 7)."""
    stored = {r.kind: r for r in session.exec(select(ReminderRule)).all()}
    return {kind: stored.get(kind) or ReminderRule(kind=kind) for kind in DueKind}


def _title(item: DueItem, threshold: str, owner_name: str, today: date, *, named: bool) -> str:
    """What the reminder says, counted from the day it goes out; `named` false: the subject is
    restricted and the recipient may not open it, so its title stays out."""
    kind = label(item.kind)  # the same name the reminder settings page shows
    ahead = (item.due_date - today).days
    if threshold == reminder_plan.ESCALATE:
        when = _("%(n)d days overdue — escalated (owner: %(owner)s)", n=-ahead, owner=owner_name)
    elif ahead > 0 and threshold == "due":
        # Only a due date on a non-working day has its reminder go out before it.
        when = _("due in %(n)d days, on a non-working day", n=ahead)
    elif ahead > 0:
        when = _("due in %(n)d days", n=ahead)
    elif ahead == 0:
        when = _("due today")
    else:
        when = _("%(n)d days overdue", n=-ahead)
    if not named:
        return _(
            "%(kind)s of a restricted document (#%(id)d): %(when)s (%(due)s)",
            kind=kind,
            id=item.subject_id,
            when=when,
            due=item.due_date,
        )
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


# The ledger's unique key: kind, subject type, subject, due date, threshold, recipient, route.
Key = tuple[str, str, int, date, str, int, str]


@dataclass(frozen=True)
class Candidate:
    """A ledger row that should exist, before its title is rendered."""

    item: DueItem
    threshold: str
    recipient_id: int
    channel: Channel
    webhook_id: int | None = None

    @property
    def route(self) -> str:
        return f"webhook:{self.webhook_id}" if self.webhook_id is not None else str(self.channel)

    @property
    def key(self) -> Key:
        item = self.item
        return (
            str(item.kind),
            item.subject_type,
            item.subject_id,
            item.due_date,
            self.threshold,
            self.recipient_id,
            self.route,
        )


def _existing_keys(session: Session, candidates: list[Candidate]) -> set[Key]:
    """The candidates' keys already in the ledger: one query per kind, over its due dates."""
    spans: dict[DueKind, tuple[date, date]] = {}
    for candidate in candidates:
        kind, due = candidate.item.kind, candidate.item.due_date
        low, high = spans.get(kind, (due, due))
        spans[kind] = (min(low, due), max(high, due))
    # SQLite hands dates back as text; parsing each distinct one once is most of this
    # function's time saved (PostgreSQL already returns dates).
    days: dict[Any, date] = {}

    def day(raw: Any) -> date:
        if raw not in days:
            days[raw] = raw if isinstance(raw, date) else date.fromisoformat(raw)
        return days[raw]

    existing: set[Key] = set()
    for kind, (low, high) in spans.items():
        rows = session.execute(
            select_columns(
                col(Notification.subject_type),
                col(Notification.subject_id),
                type_coerce(col(Notification.due_date), String),
                col(Notification.threshold),
                col(Notification.recipient_id),
                col(Notification.route),
            ).where(
                col(Notification.kind) == kind,
                col(Notification.due_date) >= low,
                col(Notification.due_date) <= high,
            )
        )
        value = str(kind)
        existing.update(
            cast(Key, (value, subject_type, subject_id, day(due), threshold, recipient_id, route))
            for subject_type, subject_id, due, threshold, recipient_id, route in rows
        )
    return existing


def plan(
    *, session: Session, now: datetime, settings: Settings, dry_run: bool = False
) -> RunReport:
    """Insert the ledger rows for every reminder due now that does not exist yet."""
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    kind_rules = rules(session=session)
    start, end = reminder_plan.window(kind_rules.values(), today)
    loaded = working_days.load(session=session, start=start - timedelta(days=30), end=end)
    calendar = reminder_plan.MemoCalendar(overrides=loaded.overrides)
    items = [
        item
        for kind, fetch in SOURCES.items()
        if kind_rules[kind].enabled
        for item in fetch(session, start, end, None)
    ]
    # Looked up once per pass, never per item.
    users = {u.id: u for u in session.exec(select(User).where(col(User.is_active))).all()}
    preferences = {p.user_id: p for p in session.exec(select(NotificationPreference)).all()}
    heads = dict(session.exec(select(Department.id, Department.head_id)).all())
    representatives = list(
        session.exec(select(UserRole.user_id).where(UserRole.role == Role.admin)).all()
    )
    webhooks = list(session.exec(select(WebhookChannel).where(col(WebhookChannel.enabled))).all())

    # First only the keys: most of them are already in the ledger on every pass but the first.
    candidates: list[Candidate] = []

    def personal(item: DueItem, threshold: str, recipient_id: int) -> None:
        candidates.append(Candidate(item, threshold, recipient_id, Channel.in_app))
        preference = preferences.get(recipient_id)
        if preference is None or preference.email:
            candidates.append(Candidate(item, threshold, recipient_id, Channel.email))

    # Thresholds depend only on the kind's rule and the due date, which many items share.
    steps: dict[tuple[DueKind, date], tuple[str | None, bool]] = {}
    for item in items:
        owner = users.get(item.owner_id)
        if owner is None or owner.id is None:
            continue
        step = steps.get((item.kind, item.due_date))
        if step is None:
            rule = kind_rules[item.kind]
            threshold = reminder_plan.current(item.due_date, rule, calendar, today)
            escalate = reminder_plan.escalation(item.due_date, rule, calendar, today)
            step = steps[item.kind, item.due_date] = (
                threshold.name if threshold is not None else None,
                escalate is not None,
            )
        name, escalated = step
        if name is not None:
            personal(item, name, owner.id)
            for webhook in webhooks:
                candidates.append(Candidate(item, name, owner.id, Channel.webhook, webhook.id))
        if escalated:
            contacts = {heads.get(owner.department_id), *representatives} - {None, owner.id}
            for contact_id in sorted(c for c in contacts if c is not None):
                if contact_id in users:
                    personal(item, reminder_plan.ESCALATE, contact_id)
    report = RunReport(planned=len(candidates), missing_years=sorted(calendar.missing))
    if dry_run or not candidates:
        return report
    existing = _existing_keys(session, candidates)
    fresh = [c for c in candidates if c.key not in existing]

    # Titles only for the new rows; an escalation goes to several people in the same language.
    titles: dict[tuple[DueItem, str, str, bool], str] = {}
    roles: dict[int, set[Role]] | None = None

    def named(candidate: Candidate) -> bool:
        """Whether the recipient may read the subject's title, by the rule of its own page."""
        evidence = candidate.item.evidence
        if evidence is None or evidence_access.open_to_all(evidence):
            return True
        if candidate.channel == Channel.webhook:
            return False  # a group chat or another system: no one reader to check
        nonlocal roles
        if roles is None:  # looked up once, and only if a restricted item needs it
            roles = {}
            for user_id, role in session.exec(select(UserRole.user_id, UserRole.role)):
                roles.setdefault(user_id, set()).add(Role(role))
        actor = Actor(
            user=users[candidate.recipient_id],
            roles=frozenset(roles.get(candidate.recipient_id, ())),
            session_id=None,
        )
        return evidence_access.may_view(actor, evidence)

    def title(candidate: Candidate) -> str:
        recipient, disclosed = users[candidate.recipient_id], named(candidate)
        memo = (candidate.item, candidate.threshold, recipient.locale, disclosed)
        if memo not in titles:
            owner = users.get(candidate.item.owner_id)
            with use_locale(recipient.locale):
                titles[memo] = _title(
                    candidate.item,
                    candidate.threshold,
                    owner.name if owner else "",
                    today,
                    named=disclosed,
                )[:300]
        return titles[memo]

    # Another scheduler may have inserted some of these since we looked: the ledger skips them.
    report.inserted = reminder_ledger.insert_new(
        session=session,
        rows=(
            {
                "kind": c.item.kind,
                "subject_type": c.item.subject_type,
                "subject_id": c.item.subject_id,
                "due_date": c.item.due_date,
                "threshold": c.threshold,
                "recipient_id": c.recipient_id,
                "channel": c.channel,
                "webhook_id": c.webhook_id,
                "title": title(c),
                "link": c.item.link,
                "route": c.route,
                "status": DeliveryStatus.pending,
                "attempts": 0,
                "last_error": "",
                "created_at": now,
                "next_attempt_at": now,
            }
            for c in fresh
        ),
    )
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
