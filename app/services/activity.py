"""The append-only, hash-chained activity log.

Each event's hash is an HMAC-SHA256, under the activity key, of its content and the previous
event's hash. The key is kept outside the database (RONGHE_ACTIVITY_KEY, or the file
`activity_key` in the data directory), so someone who can write to the database but lacks the
key cannot edit an event and recompute the hashes after it. `activity_chain` verifies the
chain and anchors its head outside the database, which catches deleted newest events.
"""

import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent, HashRule
from app.settings import Settings

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# The execution option under which app.db.make_engine gives every engine its settings.
ENGINE_SETTINGS = "ronghe_settings"
KEY_FILE = "activity_key"
KEY_BYTES = 32
# A label that keeps the chain's key apart from any other use of a configured value.
_KEY_LABEL = b"ronghe activity chain v1"


class ChainKeyError(Exception):
    """The activity key is unusable or unknown."""


def read_key(settings: Settings) -> bytes | None:
    """The activity key, or None when none was ever generated; never creates one."""
    if settings.activity_key is not None:
        value = settings.activity_key.get_secret_value()
        if len(value) < KEY_BYTES:
            raise ChainKeyError(f"RONGHE_ACTIVITY_KEY is shorter than {KEY_BYTES} characters")
        return hmac.new(value.encode(), _KEY_LABEL, hashlib.sha256).digest()
    path = settings.data_dir / KEY_FILE
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        key = bytes.fromhex(content.decode("ascii").strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ChainKeyError(f"{path} does not hold a {KEY_BYTES}-byte key in hex")
    return key


def ensure_key(settings: Settings) -> bytes:
    """The activity key, generated into the data directory the first time it is needed."""
    key = read_key(settings)
    if key is None:
        _generate_key(settings.data_dir / KEY_FILE)
        key = read_key(settings)
        assert key is not None
    return key


def _generate_key(path: Path) -> None:
    # Several workers may record their first event at the same moment. Each writes a complete
    # file of its own and links it into place; the link fails for all but the first, and
    # everyone then reads the winner, so no event is ever hashed with a key that was lost.
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(temp, path)
    except FileExistsError:
        return
    finally:
        temp.unlink(missing_ok=True)
    log.warning(
        "generated the activity key %s: it is needed to verify the activity log; back it up "
        "(ronghe backup copies it) and give every host the same key",
        path,
    )


def chain_key(session: Session) -> bytes:
    """The activity key of the settings the session's engine was built with."""
    settings = session.connection().get_execution_options().get(ENGINE_SETTINGS)
    if not isinstance(settings, Settings):
        raise ChainKeyError(
            "the session's engine was not built by app.db.make_engine; the activity key is unknown"
        )
    return ensure_key(settings)


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
        hash_rule=HashRule.hmac_sha256,
    )
    event.hash = digest(event, key=chain_key(session))
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
