"""Verifying the activity chain, and the anchors that pin its head outside the database.

The key stops someone who can write to the database from editing an event and recomputing the
hashes after it, but not from deleting the newest events: what is left is still a valid chain.
An anchor (the newest event's id, its position and its hash) kept outside the database shows
that the chain once reached that far. Anchors are appended to `activity_anchors.jsonl` in the
data directory and logged by the scheduler's leader whenever the chain has grown (every few
minutes), and by every backup, whose manifest carries one too. So only events newer than the
last anchor could vanish unnoticed.

Events from before the key keep their plain SHA-256 hashes. The key record (see activity_key)
seals where they end, so a chain rewritten without the key fails even when there is no anchor.
"""

import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from app.models.activity import ActivityEvent, ActivityKeyRecord, HashRule
from app.services.activity import key as activity_key
from app.services.activity.service import GENESIS_HASH, digest
from app.settings import Settings

log = logging.getLogger(__name__)

ANCHORS_FILE = "activity_anchors.jsonl"
# A restore deliberately replaces the history, so the anchors written before it no longer apply.
RESTORE = "restore"
# The newest event and the number of events, in one statement so that both describe the same
# snapshot (the backup runs it inside the snapshot's transaction, on SQLite and PostgreSQL).
HEAD_QUERY = (
    "SELECT id, hash, (SELECT count(*) FROM activity_event) "
    "FROM activity_event ORDER BY id DESC LIMIT 1"
)


@dataclass(frozen=True)
class Anchor:
    event_id: int
    count: int  # the events up to and including `event_id`
    head: str  # that event's hash
    at: str = ""
    source: str = ""

    @property
    def point(self) -> tuple[int, int, str]:
        """What the anchor pins, whenever and by whom it was written."""
        return self.event_id, self.count, self.head

    def describe(self) -> str:
        return f"event {self.event_id} ({self.count} events, hash {self.head[:12]}…)"


def anchor_from_row(row: Sequence[Any] | None, *, now: datetime, source: str) -> Anchor | None:
    """The anchor for a row of HEAD_QUERY; None for an empty chain."""
    if row is None:
        return None
    return Anchor(
        event_id=int(row[0]), count=int(row[2]), head=str(row[1]), at=now.isoformat(), source=source
    )


def anchors_path(settings: Settings) -> Path:
    return settings.data_dir / ANCHORS_FILE


def read_anchors(settings: Settings) -> list[Anchor]:
    """The anchors in force: every one since the last restore, in the order written."""
    try:
        lines = anchors_path(settings).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    anchors: list[Anchor] = []
    for line in lines:
        try:
            anchor = Anchor(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line torn by a crash while it was appended
        if anchor.source == RESTORE:
            anchors = []
        anchors.append(anchor)
    return anchors


def append_anchor(settings: Settings, anchor: Anchor) -> None:
    """Append one anchor to the file and the log."""
    path = anchors_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(anchor), ensure_ascii=False) + "\n"
    # One short write in append mode: concurrent writers interleave whole lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("activity anchor (%s): %s", anchor.source, anchor.describe())


def anchor(*, session: Session, settings: Settings, now: datetime, source: str) -> Anchor | None:
    """Anchor the chain's head, unless the last anchor written already names it."""
    tail = session.exec(
        select(ActivityEvent.id, ActivityEvent.hash).order_by(col(ActivityEvent.id).desc()).limit(1)
    ).first()
    if tail is None:
        return None
    event_id, head = tail
    assert event_id is not None
    last = _last_anchor(anchors_path(settings))
    if last is not None and (last.event_id, last.head) == (event_id, head):
        # Checked before counting: the scheduler asks every pass, and the head rarely moves.
        return None
    count = session.exec(
        select(func.count()).select_from(ActivityEvent).where(col(ActivityEvent.id) <= event_id)
    ).one()
    new = Anchor(event_id=event_id, count=count, head=head, at=now.isoformat(), source=source)
    append_anchor(settings, new)
    return new


def _last_anchor(path: Path) -> Anchor | None:
    # The file only grows; its last line is enough to tell whether the head moved.
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            return Anchor(**json.loads(line))
        except (ValueError, TypeError):
            continue
    return None


@dataclass(frozen=True)
class ChainReport:
    checked: int
    unkeyed: int = 0  # events from before the key, verified by the plain SHA-256 rule
    broken_at: int | None = None  # the id of the first event that does not fit the chain
    reason: str = ""
    missing_tail: Anchor | None = None  # an anchor naming events the chain no longer has
    last_id: int | None = None  # the newest event checked
    anchor: Anchor | None = None  # the furthest anchor the chain matched
    key_problem: str = ""  # no key, another key, or a missing or altered key record

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.missing_tail is None and not self.key_problem


def verify(
    *, session: Session, key: bytes | None, anchors: list[Anchor], batch: int = 1000
) -> ChainReport:
    """Walk the chain in order: an altered event no longer matches its keyed hash, a deleted or
    inserted one breaks the link to the previous hash, an event hashed by the old unkeyed rule
    may only come up to the point the key record seals, and every anchor must name an event the
    chain still has, at the same position and with the same hash."""
    record = session.get(ActivityKeyRecord, 1)
    problem = _key_problem(record, key)
    if problem:
        return ChainReport(0, key_problem=problem)
    assert record is not None
    assert key is not None
    # Every event after this one was written with the key; the seal pins it and all before it.
    boundary = record.unkeyed_head_id
    pinned: dict[int, list[Anchor]] = {}
    for a in anchors:
        if a.count > 0:
            pinned.setdefault(a.event_id, []).append(a)
    expected_prev = GENESIS_HASH
    checked = unkeyed = 0
    keyed_seen = False
    last_id: int | None = None
    matched: Anchor | None = None

    def broken(event_id: int, reason: str) -> ChainReport:
        return ChainReport(checked, unkeyed, event_id, reason, None, last_id, matched)

    while True:
        events = session.exec(
            select(ActivityEvent)
            .where(col(ActivityEvent.id) > (last_id or 0))
            .order_by(col(ActivityEvent.id))
            .limit(batch)
        ).all()
        if not events:
            break
        for event in events:
            assert event.id is not None
            if event.prev_hash != expected_prev:
                return broken(event.id, "an event before it was deleted or altered")
            if event.id > boundary and (last_id or 0) < boundary:
                return broken(event.id, f"event {boundary}, the last before the key, is missing")
            if event.hash_rule == HashRule.sha256:
                # Otherwise anyone could append or rewrite events by the rule that needs no key.
                if event.id > boundary:
                    return broken(event.id, "it is hashed without the key after the key came in")
                if keyed_seen:
                    return broken(event.id, "it is hashed without the key after keyed ones")
            elif event.hash_rule == HashRule.hmac_sha256:
                keyed_seen = True
            else:
                return broken(event.id, f"unknown hash rule {event.hash_rule}")
            if not hmac.compare_digest(digest(event, key=key), event.hash):
                return broken(event.id, "its content was altered")
            checked += 1
            unkeyed += event.hash_rule == HashRule.sha256
            if event.id == boundary and not _sealed(record, key, checked, event.hash):
                return broken(event.id, "it or an event before it differs from the key record")
            for a in pinned.pop(event.id, []):
                if (a.count, a.head) != (checked, event.hash):
                    return broken(event.id, f"it differs from the anchor of {a.at}: {a.describe()}")
                if matched is None or a.count > matched.count:
                    matched = a
            expected_prev = event.hash
            last_id = event.id
    if (last_id or 0) < boundary:
        return broken(boundary, "the key record names it as the last from before the key")
    unmatched = [a for group in pinned.values() for a in group]
    inside = [a for a in unmatched if last_id is not None and a.event_id < last_id]
    if inside:
        first = min(inside, key=lambda a: a.event_id)
        return broken(first.event_id, f"the anchor of {first.at} names it, but it is missing")
    if unmatched:
        furthest = max(unmatched, key=lambda a: a.count)
        return ChainReport(checked, unkeyed, None, "", furthest, last_id, matched)
    return ChainReport(checked, unkeyed, None, "", None, last_id, matched)


def _key_problem(record: ActivityKeyRecord | None, key: bytes | None) -> str:
    if record is None:
        return (
            "the database's activity key record is missing, so nothing shows where the events "
            "from before the key end; restore it from a backup"
        )
    if key is None:
        return "no activity key is available, and this database's log is signed with one"
    if not hmac.compare_digest(activity_key.fingerprint(key), record.fingerprint):
        return "the activity key is not the one this database's log is signed with"
    if record.unkeyed_head_id == 0 and not _sealed(record, key, 0, GENESIS_HASH):
        return "the database's activity key record was altered"
    return ""


def _sealed(record: ActivityKeyRecord, key: bytes, count: int, head: str) -> bool:
    expected = activity_key.seal(
        key, unkeyed_count=count, unkeyed_head_id=record.unkeyed_head_id, unkeyed_head=head
    )
    return hmac.compare_digest(expected, record.seal)
