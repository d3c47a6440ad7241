"""The append-only, hash-chained activity log."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent

GENESIS_HASH = "0" * 64


def _digest(prev_hash: str, event: ActivityEvent) -> str:
    payload = json.dumps(
        [
            prev_hash,
            event.at.astimezone(UTC).isoformat(),
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


def record(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    verb: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ActivityEvent:
    """Append one event to the chain."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Serialises appenders so that two transactions cannot both extend the same tail.
        session.execute(text("SELECT pg_advisory_xact_lock(2300100)"))
    tail = session.exec(
        select(ActivityEvent.hash).order_by(col(ActivityEvent.id).desc()).limit(1)
    ).first()
    event = ActivityEvent(
        at=now,
        actor_id=actor_id,
        verb=verb,
        object_type=object_type,
        object_id=str(object_id),
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=tail or GENESIS_HASH,
        hash="",
    )
    event.hash = _digest(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


def created(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    obj: Any,
    object_type: str,
    after: dict[str, Any] | None = None,
) -> None:
    """Insert a new row and log its creation in the same transaction."""
    session.add(obj)
    session.flush()
    record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type=object_type,
        object_id=obj.id,
        after=after,
    )


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    obj: Any,
    fields: dict[str, Any],
    object_type: str,
    verb: str = "update",
) -> bool:
    """Set the fields that differ, stamp `updated_at` if the row has one, and log the change;
    False (and nothing logged) when every field already had its value."""
    before, after = changes(obj, fields)
    if not after:
        return False
    for name, value in after.items():
        setattr(obj, name, value)
    if hasattr(obj, "updated_at"):
        obj.updated_at = now
    session.add(obj)
    record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb=verb,
        object_type=object_type,
        object_id=obj.id,
        before=before,
        after=after,
    )
    return True


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str, ensure_ascii=False))
    return plain


def changes(obj: Any, fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Before/after maps of just the fields whose value differs."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in fields.items():
        old = getattr(obj, name)
        if old != value:
            before[name] = old
            after[name] = value
    return before, after


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None  # the id of the first event that does not fit the chain
    reason: str = ""


def verify(*, session: Session, batch: int = 1000) -> ChainReport:
    """Walk the chain in order: an altered event no longer matches its own hash, and a deleted
    or inserted one breaks the link to the previous hash."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        events = session.exec(
            select(ActivityEvent)
            .where(col(ActivityEvent.id) > last_id)
            .order_by(col(ActivityEvent.id))
            .limit(batch)
        ).all()
        if not events:
            return ChainReport(checked, None)
        for event in events:
            assert event.id is not None
            if event.prev_hash != expected_prev:
                return ChainReport(checked, event.id, "an event before it was deleted or altered")
            if _digest(event.prev_hash, event) != event.hash:
                return ChainReport(checked, event.id, "its content was altered")
            expected_prev = event.hash
            last_id = event.id
            checked += 1
