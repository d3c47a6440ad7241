"""The append-only, hash-chained activity log.

Each event's hash is an HMAC-SHA256, under the activity key, of its content and the previous
event's hash. The key is kept outside the database (see activity_key), so someone who can
write to the database but lacks the key cannot edit an event and recompute the hashes after
it. `activity_chain` verifies the chain and anchors its head outside the database, which
catches deleted newest events.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent, HashRule
from app.services.activity.key import ChainKeyError, chain_key

GENESIS_HASH = "0" * 64


def digest(event: ActivityEvent, *, key: bytes | None) -> str:
    """The event's hash by its own rule, over its content and the previous event's hash."""
    payload = json.dumps(
        [
            event.prev_hash,
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
    ).encode()
    if event.hash_rule == HashRule.sha256:
        return hashlib.sha256(payload).hexdigest()
    if event.hash_rule != HashRule.hmac_sha256:
        raise ValueError(f"unknown hash rule {event.hash_rule}")
    if key is None:
        raise ChainKeyError("a keyed event cannot be hashed without the activity key")
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


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
    """Append one event to the chain; ChainKeyError (nothing written) when this process's key is
    not the database's."""
    key = chain_key(session)
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
        hash_rule=HashRule.hmac_sha256,
    )
    event.hash = digest(event, key=key)
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
