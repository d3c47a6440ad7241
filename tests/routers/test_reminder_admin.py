"""The administrators' reminder page: robot addresses into internal networks are refused, a
test send or a delivery never shows what an internal server answered, and given-up deliveries
are sent again in bulk."""

import socket
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.jobs import reminder_delivery
from app.models.activity import ActivityEvent
from app.models.notification import (
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    ReminderRule,
    WebhookChannel,
    WebhookKind,
)
from app.models.user import Role, User
from app.services.reminders import admin as reminder_admin
from app.services.reminders import channels as notify_channels
from tests.factories import (
    HX,
    LISTENER_HOST,
    NOW,
    WebhookServer,
    allow_listener,
    csrf,
    make_user,
    sign_in,
)

SECRET = "INTERNAL-ANSWER-7f3a"
REFUSED_ZH = "该地址指向内部网络"
FORBIDDEN_ZH = "即使主机列在 RONGHE_OUTBOUND_ALLOWED_HOSTS 中也不行"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def admin(client: TestClient, session: Session) -> User:
    user = make_user(session, roles=[Role.admin])
    sign_in(client, session, user)
    return user


def channels(session: Session) -> list[WebhookChannel]:
    return list(session.exec(select(WebhookChannel)).all())


class TestAddWebhook:
    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://127.0.0.1:6379/", REFUSED_ZH),
            ("http://localhost:8080/actuator", REFUSED_ZH),
            ("http://169.254.169.254/latest/meta-data/", FORBIDDEN_ZH),
            ("http://100.100.100.200/latest/meta-data/", FORBIDDEN_ZH),
            ("http://10.0.0.5/robot", REFUSED_ZH),
            ("http://[::1]:8000/", REFUSED_ZH),
            ("http://[::ffff:127.0.0.1]/", REFUSED_ZH),
            ("http://[fd00:ec2::254]/", FORBIDDEN_ZH),
            ("http://[fe80::1]/", FORBIDDEN_ZH),
        ],
    )
    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_an_internal_address_is_a_field_error_in_chinese(
        self,
        client: TestClient,
        session: Session,
        url: str,
        message: str,
        headers: dict[str, str],
    ) -> None:
        admin(client, session)
        response = client.post(
            "/admin/reminders/webhooks",
            data={"name": "群", "kind": "generic", "url": url, "csrf_token": csrf(client)},
            headers=headers,
        )
        assert response.status_code == 422
        assert 'id="url-error"' in response.text
        assert message in response.text
        assert channels(session) == []

    def test_a_listed_metadata_address_is_still_refused(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        app.state.settings = app.state.settings.model_copy(
            update={"outbound_allowed_hosts": "169.254.169.254"}
        )
        admin(client, session)
        response = client.post(
            "/admin/reminders/webhooks",
            data={
                "name": "群",
                "kind": "generic",
                "url": "http://169.254.169.254/latest/meta-data/",
                "csrf_token": csrf(client),
            },
            headers=HX,
        )
        assert response.status_code == 422
        assert FORBIDDEN_ZH in response.text
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


class TestSaveRule:
    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_ticked_and_unticked_boxes_are_saved(
        self, client: TestClient, session: Session, headers: dict[str, str]
    ) -> None:
        admin(client, session)
        form = {"days_before": "14，3", "overdue_every_days": "2", "escalate_after_days": "5"}
        for ticked in ({"on_due_day": "on", "enabled": "on"}, {}):
            response = client.post(
                "/admin/reminders/rules/task",
                data={**form, **ticked, "csrf_token": csrf(client)},
                headers=headers,
            )
            assert response.status_code == (204 if headers else 303)
            rule = session.get(ReminderRule, DueKind.task)
            assert rule is not None
            session.refresh(rule)
            assert (rule.days_before, rule.escalate_after_days) == ([14, 3], 5)
            assert (rule.on_due_day, rule.enabled) == (bool(ticked), bool(ticked))

    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_a_wrong_number_is_a_field_error(
        self, client: TestClient, session: Session, headers: dict[str, str]
    ) -> None:
        admin(client, session)
        response = client.post(
            "/admin/reminders/rules/task",
            data={"days_before": "7", "overdue_every_days": "x", "csrf_token": csrf(client)},
            headers=headers,
        )
        assert response.status_code == 422
        assert 'id="overdue_every_days-error"' in response.text
        assert "请输入整数" in response.text
        rule = session.get(ReminderRule, DueKind.task)
        assert rule is None or rule.days_before != [7]


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
        webhook_server: WebhookServer,
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
        webhook_server: WebhookServer,
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
        webhook_server: WebhookServer,
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
    session: Session, user: User, status: DeliveryStatus, **overrides: Any
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
        webhook_server: WebhookServer,
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
        assert event.after == {"notification_ids": sorted(r.id or 0 for r in dead), "count": 3}

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


def public_answer(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    """getaddrinfo's answer for a public robot: no DNS server is asked."""
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.119.128.1", port))]


class TestOtherRequestsGoOn:
    """A form that waits on something slow (a DNS server, the database's write lock, the mail
    relay) keeps only its own request waiting: the server answers everyone else meanwhile."""

    @pytest.mark.parametrize(
        ("path", "data", "owner", "name", "answer"),
        [
            (
                "/admin/reminders/webhooks",
                {"name": "群", "kind": "generic", "url": "https://robot.slow-dns.example/h"},
                socket,
                "getaddrinfo",
                public_answer,
            ),
            ("/admin/reminders/deliveries/retry", {"scope": "dead"}, reminder_admin, "retry", None),
            (
                "/admin/reminders/rules/task",
                {"days_before": "7"},
                reminder_admin,
                "save_rule",
                None,
            ),
            ("/admin/reminders/test", {"channel": "email"}, notify_channels, "send_mail", None),
        ],
        ids=["add-webhook", "retry", "save-rule", "send-test"],
    )
    def test_a_slow_form_does_not_stall_the_server(
        self,
        monkeypatch: pytest.MonkeyPatch,
        client: TestClient,
        session: Session,
        path: str,
        data: dict[str, str],
        owner: Any,
        name: str,
        answer: Callable[..., Any] | None,
    ) -> None:
        user = admin(client, session)
        ledger_row(session, user, DeliveryStatus.dead)
        token = csrf(client)
        # The slow call waits until another request has been answered (5 s at most).
        entered, answered, saw_answer = threading.Event(), threading.Event(), []
        real: Callable[..., Any] = answer or getattr(owner, name)

        def slow(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            saw_answer.append(answered.wait(timeout=5))
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, slow)
        responses: list[Any] = []
        waiting = threading.Thread(
            target=lambda: responses.append(
                client.post(path, data={**data, "csrf_token": token}, headers=HX)
            )
        )
        waiting.start()
        assert entered.wait(timeout=5)
        assert client.get("/healthz").status_code == 200
        answered.set()
        waiting.join(timeout=10)
        assert saw_answer == [True]
        assert responses[0].status_code == 204


class TestCsrf:
    @pytest.mark.parametrize(
        ("path", "data"),
        [
            (
                "/admin/reminders/webhooks",
                {"name": "群", "kind": "generic", "url": "https://8.8.8.8/h"},
            ),
            ("/admin/reminders/rules/task", {"days_before": "7", "enabled": "on"}),
            ("/admin/reminders/test", {"channel": "email"}),
        ],
    )
    @pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
    def test_a_form_without_its_token_changes_nothing(
        self,
        client: TestClient,
        session: Session,
        path: str,
        data: dict[str, str],
        headers: dict[str, str],
    ) -> None:
        admin(client, session)
        csrf(client)
        response = client.post(path, data={**data, "csrf_token": "forged"}, headers=headers)
        assert response.status_code == 403
        assert channels(session) == []
        assert (
            session.exec(
                select(ActivityEvent).where(
                    col(ActivityEvent.object_type).in_(["webhook_channel", "reminder_rule"])
                )
            ).all()
            == []
        )
