"""Verifying the activity chain, and the anchors that pin its head outside the database.

The key stops someone who can write to the database from editing an event and recomputing the
hashes after it, but not from deleting the newest events: what is left is still a valid chain.
An anchor (the newest event's id, its position and its hash) kept outside the database shows
that the chain once reached that far. Anchors are appended to `activity_anchors.jsonl` in the
data directory and logged by the scheduler's leader whenever the chain has grown (every few
minutes), and by every backup, whose manifest carries one too. So only events newer than the
last anchor could vanish unnoticed.
"""

import hmac
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, func, select

from app.models.activity import ActivityEvent, HashRule
from app.services.activity import GENESIS_HASH, digest
from app.settings import Settings

log = logging.getLogger(__name__)

ANCHORS_FILE = "activity_anchors.jsonl"
# A restore deliberately replaces the history, so the anchors written before it no longer apply.
RESTORE = "restore"


@dataclass(frozen=True)
class Anchor:
    event_id: int
    count: int  # the events up to and including `event_id`
    head: str  # that event's hash
    at: str = ""
    source: str = ""

    def describe(self) -> str:
        return f"event {self.event_id} ({self.count} events, hash {self.head[:12]}…)"


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


def current_head(*, session: Session, now: datetime, source: str) -> Anchor | None:
    """An anchor for the chain's newest event, or None while the chain is empty."""
    tail = session.exec(
        select(ActivityEvent.id, ActivityEvent.hash).order_by(col(ActivityEvent.id).desc()).limit(1)
    ).first()
    if tail is None:
        return None
    event_id, head = tail
    assert event_id is not None
    count = session.exec(
        select(func.count()).select_from(ActivityEvent).where(col(ActivityEvent.id) <= event_id)
    ).one()
    return Anchor(event_id=event_id, count=count, head=head, at=now.isoformat(), source=source)


def anchor(*, session: Session, settings: Settings, now: datetime, source: str) -> Anchor | None:
    """Anchor the chain's head, unless the last anchor written already names it."""
    head = current_head(session=session, now=now, source=source)
    if head is None:
        return None
    last = _last_anchor(anchors_path(settings))
    if last is not None and (last.event_id, last.head) == (head.event_id, head.head):
        return None
    append_anchor(settings, head)
    return head


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

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.missing_tail is None


def verify(
    *, session: Session, key: bytes | None, anchors: list[Anchor], batch: int = 1000
) -> ChainReport:
    """Walk the chain in order: an altered event no longer matches its keyed hash, a deleted or
    inserted one breaks the link to the previous hash, an event hashed by the old unkeyed rule
    may only come before the first keyed one, and every anchor must name an event the chain
    still has, at the same position and with the same hash."""
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
            if event.hash_rule == HashRule.sha256:
                # Otherwise anyone could append or rewrite events by the rule that needs no key.
                if keyed_seen:
                    return broken(event.id, "it is hashed without the key after keyed ones")
            elif event.hash_rule == HashRule.hmac_sha256:
                if key is None:
                    return broken(event.id, "it is keyed but no activity key is available")
                keyed_seen = True
            else:
                return broken(event.id, f"unknown hash rule {event.hash_rule}")
            if not hmac.compare_digest(digest(event, key=key), event.hash):
                return broken(event.id, "its content was altered")
            checked += 1
            unkeyed += event.hash_rule == HashRule.sha256
            for a in pinned.pop(event.id, []):
                if (a.count, a.head) != (checked, event.hash):
                    return broken(event.id, f"it differs from the anchor of {a.at}: {a.describe()}")
                if matched is None or a.count > matched.count:
                    matched = a
            expected_prev = event.hash
            last_id = event.id
    unmatched = [a for group in pinned.values() for a in group]
    inside = [a for a in unmatched if last_id is not None and a.event_id < last_id]
    if inside:
        first = min(inside, key=lambda a: a.event_id)
        return broken(first.event_id, f"the anchor of {first.at} names it, but it is missing")
    if unmatched:
        furthest = max(unmatched, key=lambda a: a.count)
        return ChainReport(checked, unkeyed, None, "", furthest, last_id, matched)
    return ChainReport(checked, unkeyed, None, "", None, last_id, matched)
