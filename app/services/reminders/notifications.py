"""The in-app inbox, notification preferences and the personal calendar feed."""

from datetime import date, datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.errors import Invalid
from app.i18n import gettext as _
from app.models.notification import Channel, Notification, NotificationPreference
from app.models.user import User
from app.pagination import Page
from app.security import new_token, token_digest
from app.services.reminders.due_items import SOURCES

FEED_PAST_DAYS = 30
FEED_FUTURE_DAYS = 400


def unread_count(*, session: Session, user_id: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.recipient_id == user_id,
            Notification.channel == Channel.in_app,
            col(Notification.read_at).is_(None),
        )
    ).one()


def inbox(*, session: Session, user_id: int, page: Page) -> tuple[list[Notification], int]:
    """The user's in-app messages, unread first, newest first."""
    query = select(Notification).where(
        Notification.recipient_id == user_id, Notification.channel == Channel.in_app
    )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Notification.read_at).is_not(None), col(Notification.id).desc())
        .offset(page.offset)
        .limit(page.size)
    ).all()
    return list(rows), total


def mark_read(*, session: Session, now: datetime, user_id: int, notification_id: int | None) -> int:
    """Mark one message, or all of them, as read; another user's message is left alone."""
    statement = update(Notification).where(
        col(Notification.recipient_id) == user_id,
        col(Notification.channel) == Channel.in_app,
        col(Notification.read_at).is_(None),
    )
    if notification_id is not None:
        statement = statement.where(col(Notification.id) == notification_id)
    result = session.execute(statement.values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def preference(*, session: Session, user_id: int) -> NotificationPreference:
    return session.get(NotificationPreference, user_id) or NotificationPreference(user_id=user_id)


def save_preference(
    *,
    session: Session,
    user_id: int,
    email: bool,
    digest: bool,
    quiet_start: int | None,
    quiet_end: int | None,
) -> NotificationPreference:
    if (quiet_start is None) != (quiet_end is None):
        raise Invalid(
            _("Give both the start and the end of quiet hours, or neither."), field="quiet_end"
        )
    if quiet_start is not None and quiet_start == quiet_end:
        raise Invalid(_("Quiet hours must start and end at different hours."), field="quiet_end")
    row = preference(session=session, user_id=user_id)
    row.email, row.daily_digest, row.quiet_start, row.quiet_end = (
        email,
        digest,
        quiet_start,
        quiet_end,
    )
    session.add(row)
    return row


def reset_calendar_token(*, session: Session, user_id: int) -> str:
    """A new secret feed address; the old one stops working at once."""
    token = new_token()
    row = preference(session=session, user_id=user_id)
    row.calendar_token_hash = token_digest(token)
    session.add(row)
    return token


def end_calendar(*, session: Session, user_id: int) -> bool:
    """Withdraw the user's calendar address for good; whether there was one.

    The hash is dropped, not flagged: nothing can bring the old address back, a new one
    has to be made (and shown) again."""
    row = session.get(NotificationPreference, user_id)
    if row is None or row.calendar_token_hash is None:
        return False
    row.calendar_token_hash = None
    session.add(row)
    return True


def user_for_calendar(*, session: Session, token: str) -> int | None:
    """The active owner of a calendar address."""
    user_id = session.exec(
        select(NotificationPreference.user_id)
        .join(User, col(User.id) == NotificationPreference.user_id)
        .where(
            NotificationPreference.calendar_token_hash == token_digest(token),
            col(User.is_active),
        )
    ).first()
    return user_id


def calendar_feed(*, session: Session, user_id: int, today: date, base_url: str) -> bytes:
    """Everything the user owns that has a due date, as all-day iCalendar events."""
    # imported here: icalendar costs 50–350 ms at start and only the calendar feed needs it
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Ronghe//Reminders//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", _("Ronghe: my due dates"))
    start, end = today - timedelta(days=FEED_PAST_DAYS), today + timedelta(days=FEED_FUTURE_DAYS)
    for fetch in SOURCES.values():
        for item in fetch(session, start, end, user_id):
            event = Event()
            event.add(
                "uid", f"{item.kind}-{item.subject_type}-{item.subject_id}-{item.due_date}@ronghe"
            )
            event.add("summary", item.title)
            event.add("dtstart", item.due_date)
            event.add("dtend", item.due_date + timedelta(days=1))
            event.add("url", base_url + item.link)
            calendar.add_component(event)
    feed: bytes = calendar.to_ical()
    return feed
