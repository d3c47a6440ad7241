"""The activity chain is keyed and anchored: someone who can write to the database but holds
neither the key nor the data directory can neither rewrite nor shorten it unnoticed."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent, HashRule
from app.services import activity, activity_chain
from app.services.activity_chain import Anchor
from app.settings import Settings
from tests.conftest import NOW


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


def _chain(session: Session) -> list[ActivityEvent]:
    session.expire_all()
    return list(session.exec(select(ActivityEvent).order_by(col(ActivityEvent.id))).all())


def _plain_sha256(prev_hash: str, event: ActivityEvent) -> str:
    """The rule before the key: anyone who can read the code can recompute it."""
    payload = json.dumps(
        [
            prev_hash,
            event.at.isoformat(),
            event.actor_id,
            event.verb,
            event.object_type,
            event.object_id,
            event.before,
            event.after,
        ],
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _rewrite_from(session: Session, start: int, *, downgrade: bool = False) -> None:
    """What an attacker with database write access does: recompute every hash from `start`."""
    events = _chain(session)
    prev = activity.GENESIS_HASH
    for event in events:
        if event.id is not None and event.id >= start:
            values: dict[str, object] = {"prev_hash": prev, "hash": _plain_sha256(prev, event)}
            if downgrade:
                values["hash_rule"] = HashRule.sha256
            # Through a placeholder first: the hash column is unique.
            session.execute(
                update(ActivityEvent)
                .where(col(ActivityEvent.id) == event.id)
                .values(hash=f"x{event.id}")
            )
            session.execute(
                update(ActivityEvent).where(col(ActivityEvent.id) == event.id).values(**values)
            )
            prev = str(values["hash"])
        else:
            prev = event.hash
    session.expire_all()


def _verify(session: Session, anchors: list[Anchor] | None = None) -> activity_chain.ChainReport:
    return activity_chain.verify(
        session=session, key=activity.chain_key(session), anchors=anchors or []
    )


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
        assert report.checked == len(_chain(session))
        assert report.anchor == anchor

    def test_new_events_are_keyed(self, session: Session) -> None:
        event = _record(session, 1)[0]
        assert event.hash_rule == HashRule.hmac_sha256
        assert event.hash != _plain_sha256(event.prev_hash, event)

    def test_an_edited_event_with_recomputed_later_hashes_fails(self, session: Session) -> None:
        events = _record(session, 4)
        victim = events[1]
        session.execute(
            update(ActivityEvent)
            .where(col(ActivityEvent.id) == victim.id)
            .values(after={"名称": "篡改"})
        )
        _rewrite_from(session, victim.id or 0)
        report = _verify(session)
        assert not report.ok
        assert report.broken_at == victim.id
        assert report.reason == "its content was altered"

    def test_downgrading_the_rewritten_events_to_the_old_rule_fails(self, session: Session) -> None:
        events = _record(session, 4)
        _rewrite_from(session, events[2].id or 0, downgrade=True)
        report = _verify(session)
        assert report.broken_at == events[2].id
        assert "without the key after keyed ones" in report.reason

    def test_downgrading_the_whole_chain_fails_against_an_anchor(
        self, session: Session, local: Settings
    ) -> None:
        _record(session, 3)
        activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        _rewrite_from(session, 0, downgrade=True)
        report = _verify(session, activity_chain.read_anchors(local))
        assert not report.ok
        assert report.broken_at is not None
        assert "anchor" in report.reason

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
        # As the migration leaves them: every event so far by the old rule.
        _rewrite_from(session, 0, downgrade=True)
        later = _record(session, 2)
        assert later[0].prev_hash == _chain(session)[-3].hash
        report = _verify(session)
        assert report.ok, report.reason
        assert report.unkeyed == len(_chain(session)) - 2
        assert events

    def test_keyed_events_fail_without_the_key(self, session: Session) -> None:
        events = _record(session, 2)
        report = activity_chain.verify(session=session, key=None, anchors=[])
        first_keyed = min(e.id or 0 for e in _chain(session) if e.hash_rule == HashRule.hmac_sha256)
        assert report.broken_at == first_keyed
        assert "no activity key" in report.reason
        assert events

    def test_a_different_key_fails(self, session: Session) -> None:
        _record(session, 2)
        report = activity_chain.verify(session=session, key=b"k" * 32, anchors=[])
        assert report.broken_at is not None
        assert report.reason == "its content was altered"


class TestAnchor:
    def test_written_once_per_head_and_logged(
        self, session: Session, local: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        _record(session, 2)
        with caplog.at_level("INFO", logger="app.services.activity_chain"):
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

    def test_a_restore_supersedes_the_anchors_before_it(
        self, session: Session, local: Settings
    ) -> None:
        events = _record(session, 3)
        activity_chain.anchor(session=session, settings=local, now=NOW, source="test")
        head = _chain(session)
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
    def test_generated_once_into_the_data_directory_readable_only_by_the_owner(
        self, local: Settings
    ) -> None:
        assert activity.read_key(local) is None
        key = activity.ensure_key(local)
        assert key is not None
        assert len(key) == 32
        path = local.data_dir / activity.KEY_FILE
        assert (path.stat().st_mode & 0o777) == 0o600
        assert activity.ensure_key(local) == key

    def test_the_environment_key_wins(self, local: Settings) -> None:
        configured = local.model_copy(update={"activity_key": SecretStr("a" * 40)})
        key = activity.ensure_key(configured)
        assert key is not None
        assert not (local.data_dir / activity.KEY_FILE).exists()
        assert activity.read_key(configured) == key
        assert activity.ensure_key(local) != key

    def test_a_short_key_is_refused(self, local: Settings) -> None:
        with pytest.raises(activity.ChainKeyError):
            activity.ensure_key(local.model_copy(update={"activity_key": SecretStr("s" * 31)}))
        (local.data_dir / activity.KEY_FILE).write_text("abcd\n", encoding="utf-8")
        with pytest.raises(activity.ChainKeyError):
            activity.read_key(local)


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
