"""The reminder engine end to end: ledger, e-mail to a real SMTP server, signed webhooks,
double runs and two scheduler processes that must not send anything twice."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlmodel import Session, func, select

from app.db import make_engine
from app.jobs import reminder_delivery, reminder_pass
from app.models.capability import Capability
from app.models.initiative import Element, Initiative, Task
from app.models.notification import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationPreference,
    WebhookChannel,
    WebhookKind,
)
from app.models.user import Role, User, UserRole
from app.services.reminders import service as reminders
from app.settings import Settings
from tests.factories import (
    PASSWORD_HASH,
    SmtpServer,
    WebhookServer,
    allow_listener,
    notifications,
    plain_text,
    session_factory,
    with_smtp,
)
from tests.factories import REMINDER_DUE as DUE
from tests.factories import REMINDER_NOW as NOW


def seed(
    settings: Settings,
    *,
    webhooks: list[WebhookChannel] | None = None,
    email: str = "zhang@example.com",
) -> None:
    engine = make_engine(settings)
    with Session(engine) as session:
        owner = User(
            name="张伟",
            email=email,
            password_hash=PASSWORD_HASH,
            created_at=NOW,
            password_changed_at=NOW,
        )
        session.add(owner)
        session.flush()
        session.add(UserRole(user_id=owner.id or 0, role=Role.owner))
        capability = Capability(code="MES", title="生产管控能力", created_at=NOW)
        session.add(capability)
        session.flush()
        initiative = Initiative(capability_id=capability.id or 0, title="MES 一期", created_at=NOW)
        session.add(initiative)
        session.flush()
        session.add(
            Task(
                initiative_id=initiative.id or 0,
                title="设备数据采集",
                element=Element.technology,
                owner_id=owner.id,
                due_date=DUE,
                created_at=NOW,
            )
        )
        for webhook in webhooks or []:
            session.add(webhook)
        session.commit()
    engine.dispose()


def test_email_arrives_once_in_chinese_and_a_rerun_sends_nothing(
    fresh_settings: Settings, smtp_sink: SmtpServer
) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    first = reminder_pass.run(session_factory=session_factory(settings), now=NOW, settings=settings)
    assert (first.inserted, first.sent) == (2, 2)  # in-app and e-mail
    assert len(sink.messages) == 1
    mail = message_from_bytes(sink.messages[0].content, policy=policy.default)
    assert mail["Subject"] == "[融合] 任务“设备数据采集”：还有 7 天到期（2026-12-01）"
    assert "设备数据采集" in plain_text(mail)
    again = reminder_pass.run(
        session_factory=session_factory(settings), now=NOW + timedelta(hours=1), settings=settings
    )
    assert (again.inserted, again.sent) == (0, 0)
    assert len(sink.messages) == 1


def test_a_missed_week_is_caught_up_by_window(
    fresh_settings: Settings, smtp_sink: SmtpServer
) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    late = reminder_pass.run(
        session_factory=session_factory(settings),
        now=datetime(2026, 11, 30, 2, tzinfo=UTC),
        settings=settings,
    )
    assert late.inserted == 2
    assert {r.threshold for r in notifications(settings)} == {"before:1"}
    assert len(sink.messages) == 1  # one message, not the three missed ones


def test_unreachable_smtp_is_retried_with_back_off_and_never_lost(fresh_settings: Settings) -> None:
    settings = fresh_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 1})
    seed(settings)
    report = reminder_pass.run(
        session_factory=session_factory(settings), now=NOW, settings=settings
    )
    assert report.failed == 1
    email = next(r for r in notifications(settings) if r.channel == Channel.email)
    assert email.status == DeliveryStatus.failed
    assert "SMTP" in email.last_error
    assert email.next_attempt_at > NOW


def test_invalid_address_is_skipped_with_a_reason(
    fresh_settings: Settings, smtp_sink: SmtpServer
) -> None:
    _sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings, email="not an address")
    reminder_pass.run(session_factory=session_factory(settings), now=NOW, settings=settings)
    email = next(r for r in notifications(settings) if r.channel == Channel.email)
    assert email.status == DeliveryStatus.skipped
    assert email.last_error == reminder_delivery.SKIP_BAD_ADDRESS


def test_quiet_hours_defer_email(fresh_settings: Settings, smtp_sink: SmtpServer) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    with session_factory(settings)() as session:
        session.add(NotificationPreference(user_id=1, quiet_start=22, quiet_end=11))
        session.commit()
    reminder_pass.run(
        session_factory=session_factory(settings), now=NOW, settings=settings
    )  # 10:00 local
    assert sink.messages == []
    reminder_pass.run(
        session_factory=session_factory(settings),
        now=NOW + timedelta(hours=1, minutes=5),
        settings=settings,
    )
    assert len(sink.messages) == 1


def test_webhooks_are_signed_as_each_service_expects(
    fresh_settings: Settings, webhook_server: WebhookServer
) -> None:
    received, base = webhook_server
    settings = allow_listener(fresh_settings)
    seed(
        settings,
        webhooks=[
            WebhookChannel(
                name="钉钉",
                kind=WebhookKind.dingtalk,
                url=f"{base}/ding?access_token=t",
                secret="SECding",
            ),
            WebhookChannel(
                name="飞书", kind=WebhookKind.feishu, url=f"{base}/feishu", secret="feishu-secret"
            ),
            WebhookChannel(name="企微", kind=WebhookKind.wecom, url=f"{base}/wecom?key=k"),
            WebhookChannel(
                name="通用", kind=WebhookKind.generic, url=f"{base}/generic", secret="s3"
            ),
        ],
    )
    reminder_pass.run(session_factory=session_factory(settings), now=NOW, settings=settings)
    by_path = {urlparse(r["path"]).path: r for r in received.requests}
    assert set(by_path) == {"/ding", "/feishu", "/wecom", "/generic"}

    ding = parse_qs(urlparse(by_path["/ding"]["path"]).query)
    timestamp = ding["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(b"SECding", f"{timestamp}\nSECding".encode(), hashlib.sha256).digest()
    ).decode()
    assert ding["sign"][0] == expected
    assert "设备数据采集" in json.loads(by_path["/ding"]["body"])["markdown"]["text"]

    feishu = json.loads(by_path["/feishu"]["body"])
    key = f"{feishu['timestamp']}\nfeishu-secret".encode()
    assert feishu["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()

    generic = by_path["/generic"]
    signature = hmac.new(b"s3", generic["body"], hashlib.sha256).hexdigest()
    assert generic["headers"]["X-Ronghe-Signature"] == f"sha256={signature}"
    assert json.loads(by_path["/wecom"]["body"])["msgtype"] == "markdown"


def test_webhook_error_answer_is_recorded_for_retry(
    fresh_settings: Settings, webhook_server: WebhookServer
) -> None:
    received, base = webhook_server
    received.answer = {"errcode": 310000, "errmsg": "sign not match"}
    settings = allow_listener(fresh_settings)
    seed(
        settings,
        webhooks=[
            WebhookChannel(name="钉钉", kind=WebhookKind.dingtalk, url=f"{base}/ding", secret="x")
        ],
    )
    reminder_pass.run(session_factory=session_factory(settings), now=NOW, settings=settings)
    hook = next(r for r in notifications(settings) if r.channel == Channel.webhook)
    assert hook.status == DeliveryStatus.failed
    assert "310000" in hook.last_error


@pytest.mark.slow
def test_two_scheduler_processes_send_each_reminder_once(
    fresh_settings: Settings, smtp_sink: SmtpServer, tmp_path: Path
) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    env = {
        **os.environ,
        "RONGHE_DATABASE_URL": settings.effective_database_url,
        "RONGHE_DATA_DIR": str(tmp_path),
        "RONGHE_SMTP_HOST": "127.0.0.1",
        "RONGHE_SMTP_PORT": str(port),
        "RONGHE_SECRET_KEY": "x" * 40,
    }
    command = [sys.executable, "-m", "app.cli", "reminders", "run", "--now", NOW.isoformat()]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
    assert len(sink.messages) == 1
    with session_factory(settings)() as session:
        assert session.exec(select(func.count()).select_from(Notification)).one() == 2


def test_crash_between_claim_and_send_is_recovered(
    fresh_settings: Settings, smtp_sink: SmtpServer
) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    with session_factory(settings)() as session:
        reminders.plan(session=session, now=NOW, settings=settings)
        # A scheduler claimed the e-mail and died before sending it.
        for row in session.exec(select(Notification)).all():
            row.status, row.claimed_at, row.attempts = DeliveryStatus.sending, NOW, 1
            session.add(row)
        session.commit()
    soon = reminder_pass.run(
        session_factory=session_factory(settings), now=NOW + timedelta(minutes=5), settings=settings
    )
    assert soon.sent == 0  # the claim is still fresh: maybe the other process is sending
    later = reminder_pass.run(
        session_factory=session_factory(settings),
        now=NOW + timedelta(minutes=11),
        settings=settings,
    )
    assert later.sent == 2
    assert len(sink.messages) == 1


def test_daily_digest_groups_e_mails(fresh_settings: Settings, smtp_sink: SmtpServer) -> None:
    sink, port = smtp_sink
    settings = with_smtp(fresh_settings, port)
    seed(settings)
    with session_factory(settings)() as session:
        initiative = session.exec(select(Initiative)).one()
        session.add(
            Task(
                initiative_id=initiative.id or 0,
                title="报工流程移动化",
                element=Element.process,
                owner_id=1,
                due_date=DUE,
                created_at=NOW,
            )
        )
        session.add(NotificationPreference(user_id=1, daily_digest=True))
        session.commit()
    early = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai, before the 08:00 digest
    reminder_pass.run(session_factory=session_factory(settings), now=early, settings=settings)
    assert sink.messages == []
    reminder_pass.run(
        session_factory=session_factory(settings),
        now=early + timedelta(hours=1, minutes=5),
        settings=settings,
    )
    assert len(sink.messages) == 1
    mail = message_from_bytes(sink.messages[0].content, policy=policy.default)
    assert mail["Subject"] == "[融合] 融合的 2 条提醒"
    body = plain_text(mail)
    assert "设备数据采集" in body
    assert "报工流程移动化" in body


def test_deleted_item_is_skipped_with_a_reason(fresh_settings: Settings) -> None:
    seed(fresh_settings)
    with session_factory(fresh_settings)() as session:
        reminders.plan(session=session, now=NOW, settings=fresh_settings)
        session.delete(session.exec(select(Task)).one())
        session.commit()
    reminder_delivery.deliver(
        session_factory=session_factory(fresh_settings), now=NOW, settings=fresh_settings
    )
    assert {(r.status, r.last_error) for r in notifications(fresh_settings)} == {
        (DeliveryStatus.skipped, reminder_delivery.SKIP_DELETED)
    }


def test_only_one_leader_until_its_lease_runs_out(fresh_settings: Settings) -> None:
    ttl = timedelta(minutes=4)
    with session_factory(fresh_settings)() as session:
        assert reminders.acquire_lease(
            session=session, name="reminders", holder="a", now=NOW, ttl=ttl
        )
        assert not reminders.acquire_lease(
            session=session, name="reminders", holder="b", now=NOW, ttl=ttl
        )
        assert reminders.acquire_lease(
            session=session, name="reminders", holder="a", now=NOW + timedelta(minutes=1), ttl=ttl
        )
        assert reminders.acquire_lease(
            session=session, name="reminders", holder="b", now=NOW + timedelta(minutes=6), ttl=ttl
        )
        assert not reminders.acquire_lease(
            session=session, name="reminders", holder="a", now=NOW + timedelta(minutes=7), ttl=ttl
        )
