"""Delivery under hostile titles, broken rows and long outages: one bad row never blocks the
others, and an SMTP relay that is down for hours loses nothing."""

from datetime import datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlmodel import Session, col, select

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
from app.services.reminders import channels as notify_channels
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

# Titles an auditor or an owner can type; each used to make the e-mail subject invalid.
POISONED = ["设备\n数据采集", "报工\u2028流程", "来料\r\n检验", "工艺\u2029文件", "培训\x85记录"]


def seed_tasks(settings: Settings, titles: list[str], *, webhook_url: str | None = None) -> None:
    """One owner per title, each with a task due in a week (so each gets an e-mail)."""
    engine = make_engine(settings)
    with Session(engine) as session:
        capability = Capability(code="MES", title="生产管控能力", created_at=NOW)
        session.add(capability)
        session.flush()
        initiative = Initiative(capability_id=capability.id or 0, title="MES 一期", created_at=NOW)
        session.add(initiative)
        session.flush()
        for n, title in enumerate(titles):
            owner = User(
                name=f"负责人{n}",
                email=f"owner{n}@example.com",
                password_hash=PASSWORD_HASH,
                created_at=NOW,
                password_changed_at=NOW,
            )
            session.add(owner)
            session.flush()
            session.add(UserRole(user_id=owner.id or 0, role=Role.owner))
            session.add(
                Task(
                    initiative_id=initiative.id or 0,
                    title=title,
                    element=Element.technology,
                    owner_id=owner.id,
                    due_date=DUE,
                    created_at=NOW,
                )
            )
        if webhook_url is not None:
            session.add(WebhookChannel(name="贯标群", kind=WebhookKind.generic, url=webhook_url))
        session.commit()
    engine.dispose()


def one_digest_reader(settings: Settings) -> None:
    """Give every task to the first owner, who reads reminders in a daily digest."""
    with session_factory(settings)() as session:
        first = session.exec(select(User).order_by(col(User.id))).first()
        assert first is not None
        for task in session.exec(select(Task)).all():
            task.owner_id = first.id
            session.add(task)
        session.add(NotificationPreference(user_id=first.id or 0, daily_digest=True))
        session.commit()


def subjects(sink: Any) -> list[str]:
    return sorted(
        str(message_from_bytes(m.content, policy=policy.default)["Subject"]) for m in sink.messages
    )


def email_rows(settings: Settings) -> list[Notification]:
    return [r for r in notifications(settings) if r.channel == Channel.email]


class TestHostileTitles:
    def test_line_breaks_in_titles_are_sent_on_one_line_and_block_nobody(
        self,
        fresh_settings: Settings,
        smtp_sink: SmtpServer,
        webhook_server: WebhookServer,
    ) -> None:
        sink, port = smtp_sink
        received, base = webhook_server
        settings = allow_listener(with_smtp(fresh_settings, port))
        seed_tasks(settings, [*POISONED, "质量检验"], webhook_url=f"{base}/hook")
        report = reminder_pass.run(
            session_factory=session_factory(settings), now=NOW, settings=settings
        )
        assert report.failed == 0
        assert {r.status for r in notifications(settings)} == {DeliveryStatus.sent}
        sent = subjects(sink)
        assert len(sent) == len(POISONED) + 1
        assert all("\n" not in s and "\r" not in s and "\u2028" not in s for s in sent)
        assert any("设备 数据采集" in s for s in sent)
        assert any("质量检验" in s for s in sent)
        # The group chat got every reminder too, the poisoned ones included.
        assert len(received.requests) == len(POISONED) + 1


def _raise_for_marked(original: Any) -> Any:
    """send_mail that breaks (not with a DeliveryError) for one message: any bug tied to one
    row's data, which a pass must survive."""

    def send(settings: Settings, mail: notify_channels.Mail) -> None:
        if "坏数据" in mail.subject or "坏数据" in mail.text:
            raise RuntimeError("a bug that only this row triggers")
        original(settings, mail)

    return send


def run_until_settled(settings: Settings, start: datetime) -> list[datetime]:
    """Passes at each moment a retry falls due, as the 5-minute scheduler would reach them;
    the moments of the passes."""
    moments, now = [start], start
    reminder_pass.run(session_factory=session_factory(settings), now=now, settings=settings)
    for _ in range(50):
        waiting = [r for r in notifications(settings) if r.status == DeliveryStatus.failed]
        if not waiting:
            return moments
        now = max(now, min(r.next_attempt_at for r in waiting))
        moments.append(now)
        reminder_delivery.deliver(
            session_factory=session_factory(settings), now=now, settings=settings
        )
    pytest.fail("the ledger never settled")


class TestOneBadRow:
    def test_an_unexpected_error_is_recorded_retried_and_ends_dead_alone(
        self, fresh_settings: Settings, smtp_sink: SmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sink, port = smtp_sink
        settings = with_smtp(fresh_settings, port)
        monkeypatch.setattr(
            notify_channels, "send_mail", _raise_for_marked(notify_channels.send_mail)
        )
        seed_tasks(settings, ["坏数据一", "坏数据二", "质量检验", "设备点检"])
        first = reminder_pass.run(
            session_factory=session_factory(settings), now=NOW, settings=settings
        )
        assert (first.sent, first.failed) == (4 + 2, 2)  # in-app for all, e-mail for the good
        assert len(sink.messages) == 2
        bad = [r for r in email_rows(settings) if "坏数据" in r.title]
        assert {r.status for r in bad} == {DeliveryStatus.failed}
        assert {r.last_error for r in bad} == {reminder_delivery.UNEXPECTED}
        run_until_settled(settings, NOW)
        bad = [r for r in email_rows(settings) if "坏数据" in r.title]
        assert {(r.status, r.attempts) for r in bad} == {
            (DeliveryStatus.dead, reminder_delivery.MAX_ATTEMPTS)
        }
        assert len(sink.messages) == 2  # the good ones were sent once, never again

    def test_a_later_reminder_still_goes_out_while_bad_rows_are_retried(
        self, fresh_settings: Settings, smtp_sink: SmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sink, port = smtp_sink
        settings = with_smtp(fresh_settings, port)
        monkeypatch.setattr(
            notify_channels, "send_mail", _raise_for_marked(notify_channels.send_mail)
        )
        seed_tasks(settings, ["坏数据一", "坏数据二"])
        reminder_pass.run(session_factory=session_factory(settings), now=NOW, settings=settings)
        # A day later, a new owner's task falls due; the two bad rows are retried meanwhile.
        later = NOW + timedelta(days=1)
        engine = make_engine(settings)
        with Session(engine) as session:
            owner = User(
                name="王芳",
                email="wang@example.com",
                password_hash=PASSWORD_HASH,
                created_at=NOW,
                password_changed_at=NOW,
            )
            session.add(owner)
            session.flush()
            session.add(
                Task(
                    initiative_id=1,
                    title="供应商评价",
                    element=Element.process,
                    owner_id=owner.id,
                    due_date=DUE + timedelta(days=1),
                    created_at=NOW,
                )
            )
            session.commit()
        engine.dispose()
        reminder_pass.run(session_factory=session_factory(settings), now=later, settings=settings)
        assert any("供应商评价" in s for s in subjects(sink))

    def test_a_broken_digest_fails_alone(
        self, fresh_settings: Settings, smtp_sink: SmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sink, port = smtp_sink
        settings = with_smtp(fresh_settings, port)
        monkeypatch.setattr(
            notify_channels, "send_mail", _raise_for_marked(notify_channels.send_mail)
        )
        seed_tasks(settings, ["坏数据一", "质量检验"])
        with session_factory(settings)() as session:
            for user in session.exec(select(User)).all():
                session.add(NotificationPreference(user_id=user.id or 0, daily_digest=True))
            session.commit()
        report = reminder_pass.run(
            session_factory=session_factory(settings), now=NOW, settings=settings
        )
        assert report.failed == 1
        assert len(sink.messages) == 1
        by_title = {r.title: r for r in email_rows(settings)}
        bad = next(r for t, r in by_title.items() if "坏数据" in t)
        good = next(r for t, r in by_title.items() if "质量检验" in t)
        assert (bad.status, bad.last_error) == (DeliveryStatus.failed, reminder_delivery.UNEXPECTED)
        assert good.status == DeliveryStatus.sent

    def test_a_row_that_breaks_its_digest_fails_alone(
        self, fresh_settings: Settings, smtp_sink: SmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One recipient, three reminders in a daily digest, one of which cannot be written
        into it: the digest goes out with the other two, and only the bad row is retried."""
        sink, port = smtp_sink
        settings = with_smtp(fresh_settings, port)
        real = reminder_delivery._part

        def part(settings: Settings, row: Notification) -> Any:
            if "坏数据" in row.title:
                raise RuntimeError("a bug that only this row triggers")
            return real(settings, row)

        monkeypatch.setattr(reminder_delivery, "_part", part)
        seed_tasks(settings, ["坏数据一", "质量检验", "设备点检"])
        one_digest_reader(settings)
        report = reminder_pass.run(
            session_factory=session_factory(settings), now=NOW, settings=settings
        )
        assert report.failed == 1
        [mail] = [message_from_bytes(m.content, policy=policy.default) for m in sink.messages]
        body = plain_text(mail)
        assert "质量检验" in body
        assert "设备点检" in body
        assert "坏数据" not in body
        by_title = {r.title: r for r in email_rows(settings)}
        bad = next(r for t, r in by_title.items() if "坏数据" in t)
        assert (bad.status, bad.last_error) == (DeliveryStatus.failed, reminder_delivery.UNEXPECTED)
        assert {r.status for t, r in by_title.items() if "坏数据" not in t} == {DeliveryStatus.sent}
        # Retried alone until it is given up; the others are never sent again.
        run_until_settled(settings, NOW)
        bad = next(r for r in email_rows(settings) if "坏数据" in r.title)
        assert bad.status == DeliveryStatus.dead
        assert len(sink.messages) == 1

    def test_a_digest_without_smtp_is_skipped_not_retried(self, fresh_settings: Settings) -> None:
        assert not fresh_settings.smtp_host
        seed_tasks(fresh_settings, ["质量检验", "设备点检"])
        one_digest_reader(fresh_settings)
        report = reminder_pass.run(
            session_factory=session_factory(fresh_settings), now=NOW, settings=fresh_settings
        )
        assert (report.failed, report.skipped) == (0, 2)
        assert {(r.status, r.last_error) for r in email_rows(fresh_settings)} == {
            (DeliveryStatus.skipped, notify_channels.NO_SMTP)
        }

    def test_a_row_whose_sender_keeps_crashing_ends_dead(self, fresh_settings: Settings) -> None:
        """A row claimed again and again by schedulers that die while sending it (the row
        stays `sending`) is given up after the last attempt instead of cycling forever."""
        seed_tasks(fresh_settings, ["质量检验"])
        with session_factory(fresh_settings)() as session:
            reminders.plan(session=session, now=NOW, settings=fresh_settings)
            for row in session.exec(select(Notification)).all():
                row.status, row.claimed_at = DeliveryStatus.sending, NOW
                row.attempts = reminder_delivery.MAX_ATTEMPTS
                session.add(row)
            session.commit()
        later = NOW + reminder_delivery.CLAIM_TIMEOUT + timedelta(minutes=1)
        reminder_delivery.deliver(
            session_factory=session_factory(fresh_settings), now=later, settings=fresh_settings
        )
        assert {(r.status, r.last_error) for r in notifications(fresh_settings)} == {
            (DeliveryStatus.dead, reminder_delivery.INTERRUPTED)
        }


class TestOutage:
    def test_a_night_without_smtp_loses_nothing(
        self, fresh_settings: Settings, smtp_sink: SmtpServer
    ) -> None:
        sink, port = smtp_sink
        down = fresh_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 1})
        seed_tasks(down, ["质量检验"])
        reminder_pass.run(session_factory=session_factory(down), now=NOW, settings=down)
        now = NOW
        # Retries while the relay is down for 20 hours.
        while True:
            email = email_rows(down)[0]
            assert email.status == DeliveryStatus.failed, f"gave up after {now - NOW}"
            if email.next_attempt_at - NOW > timedelta(hours=20):
                break
            now = email.next_attempt_at
            reminder_delivery.deliver(session_factory=session_factory(down), now=now, settings=down)
        up = with_smtp(fresh_settings, port)
        reminder_delivery.deliver(
            session_factory=session_factory(up), now=email.next_attempt_at, settings=up
        )
        assert email_rows(up)[0].status == DeliveryStatus.sent
        assert len(sink.messages) == 1

    def test_retries_span_more_than_a_day_before_giving_up(self, fresh_settings: Settings) -> None:
        down = fresh_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 1})
        seed_tasks(down, ["质量检验"])
        moments = run_until_settled(down, NOW)
        email = email_rows(down)[0]
        assert email.status == DeliveryStatus.dead
        assert email.attempts == reminder_delivery.MAX_ATTEMPTS == len(moments)
        assert moments[-1] - moments[0] >= timedelta(hours=24)
        assert "SMTP" in email.last_error
