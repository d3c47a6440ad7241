"""The administrators' reminder page: robot addresses into internal networks are refused, a
test send or a delivery never shows what an internal server answered, and given-up deliveries
are sent again in bulk."""

from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.models.activity import ActivityEvent
from app.models.notification import (
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    WebhookChannel,
    WebhookKind,
)
from app.models.user import Role, User
from app.services import reminder_delivery
from tests.conftest import HX, NOW, csrf, make_user, sign_in
from tests.jobs.conftest import (  # noqa: F401
    LISTENER_HOST,
    Received,
    allow_listener,
    webhook_server,
)

SECRET = "INTERNAL-ANSWER-7f3a"
REFUSED_ZH = "该地址指向内部网络"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def admin(client: TestClient, session: Session) -> User:
    user = make_user(session, roles=[Role.admin])
    sign_in(client, session, user)
    return user


def channels(session: Session) -> list[WebhookChannel]:
    return list(session.exec(select(WebhookChannel)).all())


class TestAddWebhook:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:6379/",
            "http://localhost:8080/actuator",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.100.100.200/latest/meta-data/",
            "http://10.0.0.5/robot",
            "http://[::1]:8000/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
        ],
    )
    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_an_internal_address_is_a_field_error_in_chinese(
        self, client: TestClient, session: Session, url: str, headers: dict[str, str]
    ) -> None:
        admin(client, session)
        response = client.post(
            "/admin/reminders/webhooks",
            data={"name": "群", "kind": "generic", "url": url, "csrf_token": csrf(client)},
            headers=headers,
        )
        assert response.status_code == 422
        assert 'id="url-error"' in response.text
        assert REFUSED_ZH in response.text
        assert channels(session) == []

    def test_an_allowed_internal_host_is_saved(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        app.state.settings = allow_listener(app.state.settings)
        admin(client, session)
        response = client.post(
            "/admin/reminders/webhooks",
            data={
                "name": "内网机器人",
                "kind": "generic",
                "url": f"http://{LISTENER_HOST}:9000/hook",
                "csrf_token": csrf(client),
            },
            headers=HX,
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/admin/reminders"
        assert [c.name for c in channels(session)] == ["内网机器人"]


def add_channel(session: Session, url: str, kind: WebhookKind = WebhookKind.generic) -> int:
    channel = WebhookChannel(name="贯标群", kind=kind, url=url)
    session.add(channel)
    session.commit()
    return channel.id or 0


class TestSendTest:
    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_an_internal_address_is_refused_at_send_and_not_contacted(
        self,
        client: TestClient,
        session: Session,
        webhook_server: tuple[Received, str],  # noqa: F811
        headers: dict[str, str],
    ) -> None:
        received, base = webhook_server
        received.raw = SECRET.encode()
        # Saved before the check existed (or written around it).
        channel_id = add_channel(session, f"{base}/hook")
        admin(client, session)
        response = client.post(
            "/admin/reminders/test",
            data={"channel": f"webhook:{channel_id}", "csrf_token": csrf(client)},
            headers=headers,
        )
        assert response.status_code == (204 if headers else 303)
        assert received.requests == []
        page = client.get("/admin/reminders").text
        assert REFUSED_ZH in page
        assert SECRET not in page

    @pytest.mark.parametrize("kind", [WebhookKind.generic, WebhookKind.wecom])
    def test_the_toast_never_shows_the_answer(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        webhook_server: tuple[Received, str],  # noqa: F811
        kind: WebhookKind,
    ) -> None:
        received, base = webhook_server
        app.state.settings = allow_listener(app.state.settings)
        received.status = 500 if kind == WebhookKind.generic else 200
        received.raw = f'{{"errcode": 1, "errmsg": "{SECRET}"}}'.encode()
        channel_id = add_channel(session, f"{base}/hook", kind)
        admin(client, session)
        client.post(
            "/admin/reminders/test",
            data={"channel": f"webhook:{channel_id}", "csrf_token": csrf(client)},
        )
        assert len(received.requests) == 1  # the allowed host was reached
        page = client.get("/admin/reminders").text
        assert "测试失败" in page
        assert SECRET not in page

    def test_a_working_allowed_channel_says_so(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        webhook_server: tuple[Received, str],  # noqa: F811
    ) -> None:
        received, base = webhook_server
        app.state.settings = allow_listener(app.state.settings)
        channel_id = add_channel(session, f"{base}/hook")
        admin(client, session)
        client.post(
            "/admin/reminders/test",
            data={"channel": f"webhook:{channel_id}", "csrf_token": csrf(client)},
        )
        assert len(received.requests) == 1
        assert "测试消息已发送" in client.get("/admin/reminders").text


def ledger_row(
    session: Session, user: User, status: DeliveryStatus, **overrides: object
) -> Notification:
    subject = session.exec(select(func.count()).select_from(Notification)).one() + 1
    row = Notification(
        **{
            "kind": DueKind.task,
            "subject_type": "probe",  # no item behind it: nothing to check for deletion
            "subject_id": subject,
            "due_date": date(2026, 12, 1),
            "threshold": "before:7",
            "recipient_id": user.id or 0,
            "channel": Channel.email,
            "route": "email",
            "title": f"提醒 {subject}",
            "status": status,
            "attempts": 10 if status == DeliveryStatus.dead else 1,
            "last_error": "SMTP: refused" if status != DeliveryStatus.sent else "",
            "created_at": NOW,
            "next_attempt_at": NOW,
            **overrides,
        }
    )
    session.add(row)
    session.commit()
    return row


class TestDeliveryLog:
    def test_a_delivery_log_entry_never_shows_the_answer(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        webhook_server: tuple[Received, str],  # noqa: F811
    ) -> None:
        received, base = webhook_server
        app.state.settings = allow_listener(app.state.settings)
        received.status, received.raw = 502, SECRET.encode()
        user = admin(client, session)
        channel_id = add_channel(session, f"{base}/hook")
        row = ledger_row(
            session,
            user,
            DeliveryStatus.pending,
            channel=Channel.webhook,
            webhook_id=channel_id,
            route=f"webhook:{channel_id}",
            attempts=0,
            last_error="",
            next_attempt_at=LONG_AGO,
        )
        # The scheduler's pass (the test harness shares one connection between sessions, so
        # it runs here rather than inside a request whose session would roll it back).
        reminder_delivery.deliver(
            session_factory=app.state.session_factory, now=NOW, settings=app.state.settings
        )
        assert len(received.requests) == 1
        session.refresh(row)
        assert (row.status, row.last_error) == (DeliveryStatus.failed, "generic: HTTP 502")
        page = client.get("/admin/reminders?status=failed")
        assert "generic: HTTP 502" in page.text
        assert SECRET not in page.text


def statuses(session: Session, rows: list[Notification]) -> list[tuple[DeliveryStatus, int]]:
    for row in rows:
        session.refresh(row)
    return [(r.status, r.attempts) for r in rows]


def retry_events(session: Session) -> list[ActivityEvent]:
    return list(
        session.exec(
            select(ActivityEvent).where(
                col(ActivityEvent.object_type) == "notification", col(ActivityEvent.verb) == "retry"
            )
        ).all()
    )


class TestBulkRetry:
    def test_the_page_offers_it_for_given_up_deliveries(
        self, client: TestClient, session: Session
    ) -> None:
        user = admin(client, session)
        dead = ledger_row(session, user, DeliveryStatus.dead)
        sent = ledger_row(session, user, DeliveryStatus.sent)
        page = client.get("/admin/reminders?status=dead")
        assert 'action="/admin/reminders/deliveries/retry"' in page.text
        assert f'name="ids" value="{dead.id}"' in page.text
        assert "全部重试已放弃的记录（1）" in page.text
        fragment = client.get("/admin/reminders", headers={**HX, "HX-Target": "delivery-log"}).text
        assert fragment.lstrip().startswith('<div id="delivery-log">')
        assert 'id="bulk-retry"' in fragment
        assert f'name="ids" value="{sent.id}"' not in fragment

    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_all_given_up_go_back_to_pending_with_fresh_attempts(
        self, client: TestClient, session: Session, headers: dict[str, str]
    ) -> None:
        user = admin(client, session)
        dead = [ledger_row(session, user, DeliveryStatus.dead) for _ in range(3)]
        failed = ledger_row(session, user, DeliveryStatus.failed)
        sent = ledger_row(session, user, DeliveryStatus.sent)
        response = client.post(
            "/admin/reminders/deliveries/retry",
            data={"scope": "dead", "csrf_token": csrf(client)},
            headers=headers,
        )
        if headers:
            assert response.status_code == 204
            assert response.headers["HX-Redirect"] == "/admin/reminders?status=pending"
        else:
            assert response.status_code == 303
            assert response.headers["location"] == "/admin/reminders?status=pending"
        assert statuses(session, dead) == [(DeliveryStatus.pending, 0)] * 3
        assert statuses(session, [failed, sent]) == [
            (DeliveryStatus.failed, 1),
            (DeliveryStatus.sent, 1),
        ]
        assert "3 条记录将在下一轮重新发送" in client.get("/admin/reminders").text
        [event] = retry_events(session)
        assert event.actor_id == user.id
        assert event.after == {"notification_ids": sorted(r.id for r in dead), "count": 3}

    def test_selected_ones_only(self, client: TestClient, session: Session) -> None:
        user = admin(client, session)
        first, second, third = (ledger_row(session, user, DeliveryStatus.dead) for _ in range(3))
        failed = ledger_row(session, user, DeliveryStatus.failed)
        sent = ledger_row(session, user, DeliveryStatus.sent)
        response = client.post(
            "/admin/reminders/deliveries/retry",
            data={
                "scope": "selected",
                "ids": [str(first.id), str(failed.id), str(sent.id)],
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 303
        assert statuses(session, [first, second, third, failed, sent]) == [
            (DeliveryStatus.pending, 0),
            (DeliveryStatus.dead, 10),
            (DeliveryStatus.dead, 10),
            (DeliveryStatus.pending, 0),
            (DeliveryStatus.sent, 1),
        ]

    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    @pytest.mark.parametrize(
        ("data", "status", "message"),
        [
            ({"scope": "selected"}, 422, "请至少选择一条发送记录"),
            ({"scope": "selected", "ids": "abc"}, 422, "请从给定选项中选择"),
            ({"scope": "everything"}, 422, "请从给定选项中选择"),
            ({"scope": "selected", "ids": "999999"}, 404, ""),
            ({"scope": "dead"}, 409, "只有发送失败的记录才能重试"),
        ],
    )
    def test_refusals_change_nothing(
        self,
        client: TestClient,
        session: Session,
        headers: dict[str, str],
        data: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        user = admin(client, session)
        sent = ledger_row(session, user, DeliveryStatus.sent)
        response = client.post(
            "/admin/reminders/deliveries/retry",
            data={**data, "csrf_token": csrf(client)},
            headers=headers,
        )
        assert response.status_code == status
        assert message in response.text
        assert statuses(session, [sent]) == [(DeliveryStatus.sent, 1)]
        assert retry_events(session) == []

    def test_without_csrf_or_as_non_admin_nothing_changes(
        self, client: TestClient, session: Session
    ) -> None:
        user = admin(client, session)
        dead = ledger_row(session, user, DeliveryStatus.dead)
        assert (
            client.post("/admin/reminders/deliveries/retry", data={"scope": "dead"}).status_code
            == 403
        )
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        response = client.post(
            "/admin/reminders/deliveries/retry",
            data={"scope": "dead", "csrf_token": csrf(client)},
        )
        assert response.status_code == 403
        assert statuses(session, [dead]) == [(DeliveryStatus.dead, 10)]

    def test_the_single_retry_is_recorded_too(self, client: TestClient, session: Session) -> None:
        user = admin(client, session)
        dead = ledger_row(session, user, DeliveryStatus.dead)
        response = client.post(
            f"/admin/reminders/deliveries/{dead.id}/retry",
            data={"csrf_token": csrf(client)},
            headers=HX,
        )
        assert response.status_code == 204
        assert statuses(session, [dead]) == [(DeliveryStatus.pending, 0)]
        assert len(retry_events(session)) == 1
