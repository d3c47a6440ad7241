"""Inbox, reminder preferences, calendar feed and the administrators' reminder page."""

from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import Session, func, select

from app.models.capability import Capability
from app.models.initiative import Element, Initiative, Task
from app.models.notification import (
    CalendarDay,
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    NotificationPreference,
    ReminderRule,
    WebhookChannel,
)
from app.models.user import Role, User
from tests.factories import HX, NOW, csrf, make_user, sign_in


def _message(
    session: Session, user: User, title: str = "任务“采集改造”：还有 7 天到期"
) -> Notification:
    # A different subject each time, so the ledger's unique key never collides.
    subject = session.exec(select(func.count()).select_from(Notification)).one() + 1
    row = Notification(
        kind=DueKind.task,
        subject_type="task",
        subject_id=subject,
        due_date=date(2026, 12, 1),
        threshold="before:7",
        recipient_id=user.id or 0,
        channel=Channel.in_app,
        route="in_app",
        title=title,
        link="/capabilities",
        status=DeliveryStatus.sent,
        created_at=NOW,
        next_attempt_at=NOW,
    )
    session.add(row)
    session.commit()
    return row


class TestInbox:
    def test_unread_badge_and_mark_read_with_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        first = _message(session, user)
        _message(session, user, "证据复审“文件控制程序”：今天到期")
        sign_in(client, session, user)
        page = client.get("/inbox")
        assert 'id="unread-count"' in page.text
        assert "采集改造" in page.text
        response = client.post(
            "/inbox/read",
            data={"notification_id": str(first.id)},
            headers={**HX, "HX-Target": "inbox", "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="inbox">')
        assert "1 条未读" in response.text
        session.refresh(first)
        assert first.read_at is not None

    def test_mark_all_without_htmx_and_others_messages_untouched(
        self, client: TestClient, session: Session
    ) -> None:
        user, other = make_user(session), make_user(session)
        mine, theirs = _message(session, user), _message(session, other)
        sign_in(client, session, user)
        response = client.post("/inbox/read", data={"csrf_token": csrf(client)})
        assert response.status_code == 200
        assert "<nav" in response.text
        session.refresh(mine)
        session.refresh(theirs)
        assert mine.read_at is not None
        assert theirs.read_at is None
        client.post(
            "/inbox/read", data={"notification_id": str(theirs.id), "csrf_token": csrf(client)}
        )
        session.refresh(theirs)
        assert theirs.read_at is None


class TestPreferences:
    def test_saves_and_validates_quiet_hours(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        sign_in(client, session, user)
        bad = client.post(
            "/account/reminders",
            data={"email": "on", "quiet_start": "22", "csrf_token": csrf(client)},
        )
        assert bad.status_code == 422
        assert 'id="quiet_end-error"' in bad.text
        good = client.post(
            "/account/reminders",
            data={
                "digest": "on",
                "quiet_start": "22",
                "quiet_end": "7",
                "csrf_token": csrf(client),
            },
        )
        assert good.status_code == 303
        preference = session.get(NotificationPreference, user.id)
        assert preference is not None
        assert (preference.email, preference.daily_digest, preference.quiet_start) == (
            False,
            True,
            22,
        )


def test_calendar_feed_lists_my_due_items_and_reset_revokes(
    client: TestClient, session: Session
) -> None:
    user = make_user(session)
    capability = Capability(code="X", title="能力", created_at=NOW)
    session.add(capability)
    session.commit()
    initiative = Initiative(capability_id=capability.id or 0, title="方案", created_at=NOW)
    session.add(initiative)
    session.commit()
    session.add(
        Task(
            initiative_id=initiative.id or 0,
            title="数据采集",
            element=Element.data,
            owner_id=user.id,
            due_date=datetime.now(UTC).date(),
            created_at=NOW,
        )
    )
    session.commit()
    sign_in(client, session, user)
    page = client.post("/account/calendar", data={"csrf_token": csrf(client)})
    url = page.text.split('id="calendar-url">')[1].split("<")[0]
    path = url.split("8000", 1)[1]
    client.cookies.clear()
    feed = client.get(path)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    events = list(Calendar.from_ical(feed.content).walk("VEVENT"))
    assert [str(e["SUMMARY"]) for e in events] == ["数据采集"]
    sign_in(client, session, user)
    client.post("/account/calendar", data={"csrf_token": csrf(client)})
    client.cookies.clear()
    assert client.get(path).status_code == 404


class TestAdmin:
    def test_page_shows_failures_and_saves_a_rule(
        self, client: TestClient, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        failed = _message(session, admin)
        failed.status, failed.last_error, failed.channel, failed.route = (
            DeliveryStatus.dead,
            "SMTP: refused",
            Channel.email,
            "email",
        )
        session.add(failed)
        session.commit()
        sign_in(client, session, admin)
        page = client.get("/admin/reminders?status=dead")
        assert "SMTP: refused" in page.text
        fragment = client.get(
            "/admin/reminders?status=dead", headers={**HX, "HX-Target": "delivery-log"}
        )
        assert fragment.text.lstrip().startswith('<div id="delivery-log">')
        bad = client.post(
            "/admin/reminders/rules/task", data={"days_before": "30,x", "csrf_token": csrf(client)}
        )
        assert bad.status_code == 422
        assert 'id="days_before-error"' in bad.text
        good = client.post(
            "/admin/reminders/rules/task",
            data={
                "days_before": "14, 3",
                "overdue_every_days": "2",
                "escalate_after_days": "5",
                "enabled": "on",
                "csrf_token": csrf(client),
            },
        )
        assert good.status_code == 303
        rule = session.get(ReminderRule, DueKind.task)
        assert rule is not None
        assert (rule.days_before, rule.on_due_day, rule.overdue_every_days) == ([14, 3], False, 2)
        assert (
            client.post(
                f"/admin/reminders/deliveries/{failed.id}/retry", data={"csrf_token": csrf(client)}
            ).status_code
            == 303
        )
        session.refresh(failed)
        assert failed.status == DeliveryStatus.pending

    def test_webhook_and_calendar_entries(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        bad = client.post(
            "/admin/reminders/webhooks",
            data={"name": "群", "kind": "dingtalk", "url": "ftp://x", "csrf_token": csrf(client)},
        )
        assert bad.status_code == 422
        assert 'id="url-error"' in bad.text
        ok = client.post(
            "/admin/reminders/webhooks",
            data={
                "name": "贯标群",
                "kind": "dingtalk",
                "url": "https://oapi.dingtalk.com/robot/send?access_token=x",
                "csrf_token": csrf(client),
            },
        )
        assert ok.status_code == 303
        assert session.exec(select(WebhookChannel)).one().name == "贯标群"
        day = client.post(
            "/admin/reminders/calendar",
            data={"day": "2027-10-01", "kind": "off", "note": "国庆", "csrf_token": csrf(client)},
        )
        assert day.status_code == 303
        assert session.get(CalendarDay, date(2027, 10, 1)) is not None
        assert (
            client.post(
                "/admin/reminders/calendar",
                data={"day": "10/01", "kind": "off", "csrf_token": csrf(client)},
            ).status_code
            == 422
        )

    def test_test_send_without_smtp_says_why(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/admin/reminders/test", data={"channel": "email", "csrf_token": csrf(client)}
        )
        assert response.status_code == 303
        assert "RONGHE_SMTP_HOST" in client.get("/admin/reminders").text  # in the toast
