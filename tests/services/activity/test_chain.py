"""The activity chain is keyed and anchored: someone who can write to the database but holds
neither the key nor the data directory can neither rewrite nor shorten it unnoticed."""

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, update
from sqlalchemy import event as sql_event
from sqlmodel import Session, col, func, select

from app.db import ENGINE_SETTINGS
from app.models.activity import ActivityEvent, ActivityKeyRecord, HashRule
from app.services.activity import chain as activity_chain
from app.services.activity import key as activity_key
from app.services.activity import service as activity
from app.services.activity.chain import Anchor
from app.settings import Settings
from tests.factories import NOW, chain_events, plain_sha256, rewrite_chain_from


def _record(session: Session, n: int) -> list[ActivityEvent]:
    return [
        activity.record(
            session=session,
            now=NOW,
            actor_id=None,
            verb="update",
            object_type="goal",
            object_id=k,
            before={"名称": "旧"},
            after={"名称": f"新{k}"},
        )
        for k in range(n)
    ]


def _verify(session: Session, anchors: list[Anchor] | None = None) -> activity_chain.ChainReport:
    return activity_chain.verify(
        session=session, key=activity_key.chain_key(session), anchors=anchors or []
    )


def _upgrade_here(session: Session) -> None:
    """As the migration leaves an old log: every event so far by the old rule, and the key
    record sealing the newest of them."""
    rewrite_chain_from(session, 0, downgrade=True)
    head = chain_events(session)[-1]
    values = activity_key.record_values(
        activity_key.chain_key(session),
        unkeyed_count=len(chain_events(session)),
        unkeyed_head_id=head.id or 0,
        unkeyed_head=head.hash,
        now=NOW,
    )
    session.execute(update(ActivityKeyRecord).values(**values))
    session.expire_all()


def _count_of_events(session: Session) -> int:
    return session.exec(select(func.count()).select_from(ActivityEvent)).one()


@pytest.fixture
def elsewhere(connection: Any, tmp_path: Path) -> Iterator[Session]:
    """A session on the same database from a host with a data directory of its own."""
    own = connection.get_execution_options()[ENGINE_SETTINGS]
    other = own.model_copy(update={"data_dir": tmp_path / "other"})
    connection.execution_options(**{ENGINE_SETTINGS: other})
    try:
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
    finally:
        connection.execution_options(**{ENGINE_SETTINGS: own})


@pytest.fixture
def local(settings: Settings, tmp_path: Path) -> Settings:
    """The same database, with a data directory (and so an anchors file) of the test's own."""
    return settings.model_copy(update={"data_dir": tmp_path})


class TestVerify:
    def test_an_untouched_chain_passes_with_its_anchor(
        self, session: Session, local: Settings
    ) -> None:
        _record(session, 3)
        anchor = activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        assert anchor is not None
        report = _verify(session, activity_chain.read_anchors(local))
        assert report.ok
        assert report.checked == len(chain_events(session))
        assert report.anchor == anchor

    def test_new_events_are_keyed(self, session: Session) -> None:
        event = _record(session, 1)[0]
        assert event.hash_rule == HashRule.hmac_sha256
        assert event.hash != plain_sha256(event.prev_hash, event)

    def test_an_edited_event_with_recomputed_later_hashes_fails(self, session: Session) -> None:
        events = _record(session, 4)
        victim = events[1]
        session.execute(
            update(ActivityEvent)
            .where(col(ActivityEvent.id) == victim.id)
            .values(after={"名称": "篡改"})
        )
        rewrite_chain_from(session, victim.id or 0)
        report = _verify(session)
        assert not report.ok
        assert report.broken_at == victim.id
        assert report.reason == "its content was altered"

    def test_downgrading_the_rewritten_events_to_the_old_rule_fails(self, session: Session) -> None:
        events = _record(session, 4)
        rewrite_chain_from(session, events[2].id or 0, downgrade=True)
        report = _verify(session)
        assert report.broken_at == events[2].id
        assert "without the key after the key came in" in report.reason

    def test_a_chain_rewritten_entirely_without_the_key_fails_without_any_anchor(
        self, session: Session
    ) -> None:
        _record(session, 3)
        rewrite_chain_from(session, 0, downgrade=True)
        report = _verify(session, [])
        assert not report.ok
        assert report.broken_at == chain_events(session)[0].id
        assert "without the key after the key came in" in report.reason

    def test_editing_an_event_from_before_the_key_fails_against_the_key_record(
        self, session: Session
    ) -> None:
        _record(session, 3)
        _upgrade_here(session)
        boundary = chain_events(session)[-1]
        _record(session, 1)
        first = chain_events(session)[0]
        session.execute(
            update(ActivityEvent).where(col(ActivityEvent.id) == first.id).values(verb="篡改")
        )
        # Recomputable without the key, but the record seals the old end of the unkeyed events.
        rewrite_chain_from(session, first.id or 0)
        report = _verify(session)
        assert report.broken_at == boundary.id
        assert report.reason == "it or an event before it differs from the key record"

    def test_a_missing_or_altered_key_record_is_reported(self, session: Session) -> None:
        _record(session, 2)
        session.execute(update(ActivityKeyRecord).values(unkeyed_head_id=1, unkeyed_count=1))
        session.expire_all()
        altered = _verify(session)
        assert altered.broken_at == 1
        assert "differs from the key record" in altered.reason
        session.execute(delete(ActivityKeyRecord))
        session.expire_all()
        missing = activity_chain.verify(
            session=session, key=activity_key.chain_key(session), anchors=[]
        )
        assert not missing.ok
        assert "key record is missing" in missing.key_problem

    def test_deleting_the_newest_events_fails_against_the_anchor(
        self, session: Session, local: Settings
    ) -> None:
        events = _record(session, 4)
        activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        session.execute(delete(ActivityEvent).where(col(ActivityEvent.id) >= events[2].id))
        report = _verify(session, activity_chain.read_anchors(local))
        assert not report.ok
        assert report.broken_at is None
        assert report.missing_tail is not None
        assert report.missing_tail.event_id == events[-1].id
        assert report.checked == report.missing_tail.count - 2

    def test_without_an_anchor_a_shortened_chain_still_links(self, session: Session) -> None:
        # The limit of a chain alone, stated: only an anchor shows that the tail is gone.
        events = _record(session, 3)
        session.execute(delete(ActivityEvent).where(col(ActivityEvent.id) == events[-1].id))
        report = _verify(session)
        assert report.ok
        assert report.anchor is None

    def test_events_from_before_the_key_verify_by_the_old_rule(self, session: Session) -> None:
        events = _record(session, 3)
        _upgrade_here(session)
        later = _record(session, 2)
        assert later[0].prev_hash == chain_events(session)[-3].hash
        report = _verify(session)
        assert report.ok, report.reason
        assert report.unkeyed == len(chain_events(session)) - 2
        assert events

    def test_keyed_events_fail_without_the_key(self, session: Session) -> None:
        _record(session, 2)
        report = activity_chain.verify(session=session, key=None, anchors=[])
        assert not report.ok
        assert "no activity key" in report.key_problem

    def test_a_different_key_is_named_as_such(self, session: Session) -> None:
        _record(session, 2)
        report = activity_chain.verify(session=session, key=b"k" * 32, anchors=[])
        assert not report.ok
        assert report.key_problem == (
            "the activity key is not the one this database's log is signed with"
        )


class TestAnchor:
    def test_written_once_per_head_and_logged(
        self, session: Session, local: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        _record(session, 2)
        with caplog.at_level("INFO", logger="app.services.activity.chain"):
            first = activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        assert first is not None
        assert f"event {first.event_id}" in caplog.text
        assert activity_chain.anchor(session=session, settings=local, now=NOW, source="x") is None
        last = _record(session, 1)[0]
        second = activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        assert second is not None
        assert (second.event_id, second.head) == (last.id, last.hash)
        assert second.count == first.count + 1
        assert activity_chain.read_anchors(local) == [first, second]

    def test_an_unmoved_head_is_not_counted_again(
        self, session: Session, connection: Any, local: Settings
    ) -> None:
        _record(session, 2)
        counts: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "count(" in statement.lower():
                counts.append(statement)

        activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        sql_event.listen(connection, "before_cursor_execute", seen)
        try:
            for _ in range(3):
                assert (
                    activity_chain.anchor(session=session, settings=local, now=NOW, source="x")
                    is None
                )
            assert counts == []
            _record(session, 1)
            assert activity_chain.anchor(session=session, settings=local, now=NOW, source="x")
            assert len(counts) == 1
        finally:
            sql_event.remove(connection, "before_cursor_execute", seen)

    def test_a_restore_supersedes_the_anchors_before_it(
        self, session: Session, local: Settings
    ) -> None:
        events = _record(session, 3)
        activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        head = chain_events(session)
        restored = Anchor(
            event_id=events[0].id or 0,
            count=len(head) - 2,
            head=events[0].hash,
            at=NOW.isoformat(),
            source="restore",
        )
        activity_chain.append_anchor(local, restored)
        session.execute(delete(ActivityEvent).where(col(ActivityEvent.id) > events[0].id))
        assert activity_chain.read_anchors(local) == [restored]
        assert _verify(session, activity_chain.read_anchors(local)).ok

    def test_a_torn_last_line_is_ignored(self, session: Session, local: Settings) -> None:
        _record(session, 1)
        anchor = activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        with activity_chain.anchors_path(local).open("a", encoding="utf-8") as f:
            f.write('{"event_id": 9')
        assert activity_chain.read_anchors(local) == [anchor]


class TestKey:
    def test_created_once_into_the_data_directory_readable_only_by_the_owner(
        self, local: Settings
    ) -> None:
        assert activity_key.read_key(local) is None
        key = activity_key.ensure_key(local)
        assert len(key) == 32
        path = local.data_dir / activity_key.KEY_FILE
        assert (path.stat().st_mode & 0o777) == 0o600
        assert activity_key.ensure_key(local) == key

    def test_created_without_hard_links_where_the_file_system_has_none(
        self, local: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def no_links(_src: Any, _dst: Any) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
        key = activity_key.ensure_key(local)
        path = local.data_dir / activity_key.KEY_FILE
        assert (path.stat().st_mode & 0o777) == 0o600
        assert activity_key.read_key(local) == key
        assert activity_key.ensure_key(local) == key
        assert [p.name for p in local.data_dir.iterdir()] == [activity_key.KEY_FILE]

    def test_a_read_only_data_directory_is_named(
        self, local: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def read_only(*_args: Any, **_kwargs: Any) -> int:
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(os, "open", read_only)
        with pytest.raises(activity_key.ChainKeyError, match="cannot be created: Read-only"):
            activity_key.ensure_key(local)

    def test_the_environment_key_wins(self, local: Settings) -> None:
        configured = local.model_copy(update={"activity_key": SecretStr("a" * 40)})
        key = activity_key.ensure_key(configured)
        assert not (local.data_dir / activity_key.KEY_FILE).exists()
        assert activity_key.read_key(configured) == key
        assert activity_key.ensure_key(local) != key

    def test_a_short_key_is_refused(self, local: Settings) -> None:
        with pytest.raises(activity_key.ChainKeyError):
            activity_key.ensure_key(local.model_copy(update={"activity_key": SecretStr("s" * 31)}))
        (local.data_dir / activity_key.KEY_FILE).write_text("abcd\n", encoding="utf-8")
        with pytest.raises(activity_key.ChainKeyError):
            activity_key.read_key(local)

    def test_read_once_per_process(self, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
        reads: list[Settings] = []
        real = activity_key.read_key

        def counted(settings: Settings) -> bytes | None:
            reads.append(settings)
            return real(settings)

        activity_key.forget()
        monkeypatch.setattr(activity_key, "read_key", counted)
        _record(session, 3)
        assert len(reads) == 1


class TestMixedKeys:
    def test_a_host_with_another_key_records_nothing(
        self, session: Session, elsewhere: Session
    ) -> None:
        before = _count_of_events(session)
        settings = activity_key.settings_of(elsewhere.connection())
        activity_key.ensure_key(settings)
        with pytest.raises(activity_key.ChainKeyError) as refused:
            _record(elsewhere, 1)
        assert "is not the key this database's activity log is signed with" in str(refused.value)
        assert "same key" in str(refused.value)
        assert _count_of_events(session) == before

    def test_a_host_without_the_key_records_nothing_and_creates_none(
        self, session: Session, elsewhere: Session
    ) -> None:
        before = _count_of_events(session)
        settings = activity_key.settings_of(elsewhere.connection())
        with pytest.raises(activity_key.ChainKeyError, match="a key this host does not have"):
            _record(elsewhere, 1)
        assert not (settings.data_dir / activity_key.KEY_FILE).exists()
        assert _count_of_events(session) == before

    def test_a_database_without_its_key_record_records_nothing(
        self, session: Session, elsewhere: Session
    ) -> None:
        activity_key.ensure_key(activity_key.settings_of(elsewhere.connection()))
        elsewhere.execute(delete(ActivityKeyRecord))
        with pytest.raises(activity_key.ChainKeyError, match="no activity key record"):
            _record(elsewhere, 1)


class TestSchedulerPass:
    def test_the_lease_holder_anchors_the_head_once(
        self, session: Session, connection: Any, local: Settings
    ) -> None:
        from app.jobs import scheduler

        last = _record(session, 2)[-1]
        session.commit()

        def factory() -> Session:
            return Session(bind=connection, join_transaction_mode="create_savepoint")

        scheduler.reminder_pass(factory, local, NOW)
        scheduler.reminder_pass(factory, local, NOW)
        anchors = activity_chain.read_anchors(local)
        assert [(a.event_id, a.head, a.source) for a in anchors] == [
            (last.id, last.hash, "scheduler")
        ]

    def test_a_failure_to_anchor_is_logged_and_does_not_raise(
        self, session: Session, connection: Any, local: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        from app.jobs import scheduler

        _record(session, 1)
        local.data_dir.joinpath(activity_chain.ANCHORS_FILE).mkdir()

        def factory() -> Session:
            return Session(bind=connection, join_transaction_mode="create_savepoint")

        scheduler.anchor_activity(factory, local, NOW)
        assert "anchoring the activity log failed" in caplog.text
