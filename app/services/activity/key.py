"""The activity key: where it comes from, when it is created, and how a database names it.

The key lives outside the database (RONGHE_ACTIVITY_KEY, or the file `activity_key` in the data
directory). It is created once, by the migration that introduced it (`ronghe migrate`), never
in the middle of a request. That migration also writes the key record: one row holding the
key's fingerprint and, sealed under the key, where the events from before the key end.

The record has two uses. A process whose key differs from the database's, such as a second
host with a data directory of its own, is refused at startup and before it records anything,
so a chain is never signed with mixed keys. And `verify` knows that every event after the
sealed point must be keyed, even when no anchor exists. Without the key, the record cannot be
forged, only deleted, and a missing record is itself reported.
"""

import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect
from sqlmodel import Session

from app.db import ENGINE_SETTINGS
from app.models.activity import ActivityKeyRecord
from app.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "activity_key"
KEY_BYTES = 32
# Labels that keep each use of the key, and of a configured value, apart from the others.
_KEY_LABEL = b"ronghe activity chain v1"
_FINGERPRINT_LABEL = b"ronghe activity key fingerprint v1"
_SEAL_LABEL = b"ronghe activity key record v1"
SAME_KEY_HINT = (
    "every host must use the same key: share the data directory, copy activity_key from the "
    "host that ran `ronghe migrate` (mode 0600), or set the same RONGHE_ACTIVITY_KEY everywhere"
)

# Keys already checked against their database, per process: the file is read once, not per event.
_checked: dict[tuple[str, str, bytes], bytes] = {}


class ChainKeyError(Exception):
    """The activity key is missing, unusable, or not the one the database's log is signed with."""


def read_key(settings: Settings) -> bytes | None:
    """The activity key, or None when none was ever created; never creates one."""
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
    except OSError as exc:
        raise ChainKeyError(f"the activity key {path} cannot be read: {exc.strerror}") from exc
    try:
        key = bytes.fromhex(content.decode("ascii").strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ChainKeyError(f"{path} does not hold a {KEY_BYTES}-byte key in hex")
    return key


def ensure_key(settings: Settings) -> bytes:
    """The activity key, created in the data directory if there is none yet."""
    key = read_key(settings)
    if key is None:
        path = settings.data_dir / KEY_FILE
        try:
            _generate_key(path)
        except OSError as exc:
            raise ChainKeyError(
                f"the activity key {path} cannot be created: {exc.strerror}. Make the data "
                "directory writable for `ronghe migrate`, or set RONGHE_ACTIVITY_KEY"
            ) from exc
        key = read_key(settings)
        assert key is not None
    return key


def _generate_key(path: Path) -> None:
    # Several processes may create the key at the same moment (two hosts migrating at once).
    # Each writes a complete file of its own and links it into place; the link fails for all
    # but the first, and everyone then reads the winner.
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii")
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, content)
        os.link(temp, path)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}:
            raise
        # A file system without hard links: create the file itself exclusively. A reader can
        # then see it before its one short write lands; the key is created by `ronghe migrate`
        # before any server starts, so nobody reads it yet.
        if not _create_exclusively(path, content):
            return
    finally:
        temp.unlink(missing_ok=True)
    log.warning(
        "created the activity key %s: it is needed to verify the activity log; back it up "
        "(ronghe backup copies it) and give every host the same key",
        path,
    )


def _create_exclusively(path: Path, content: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    _write_all(fd, content)
    return True


def _write_all(fd: int, content: bytes) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def fingerprint(key: bytes) -> bytes:
    """Names the key without revealing it: an HMAC of a fixed label under the key."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).digest()


def seal(key: bytes, *, unkeyed_count: int, unkeyed_head_id: int, unkeyed_head: str) -> bytes:
    """Binds the end of the unkeyed events (the last one's id, position and hash) to the key."""
    payload = json.dumps([unkeyed_head_id, unkeyed_count, unkeyed_head]).encode()
    return hmac.new(key, _SEAL_LABEL + payload, hashlib.sha256).digest()


def record_values(
    key: bytes, *, unkeyed_count: int, unkeyed_head_id: int, unkeyed_head: str, now: datetime
) -> dict[str, Any]:
    """The key record's row for a chain whose newest event so far is unkeyed (0: none)."""
    return {
        "id": 1,
        "created_at": now,
        "unkeyed_count": unkeyed_count,
        "unkeyed_head_id": unkeyed_head_id,
        "fingerprint": fingerprint(key),
        "seal": seal(
            key,
            unkeyed_count=unkeyed_count,
            unkeyed_head_id=unkeyed_head_id,
            unkeyed_head=unkeyed_head,
        ),
    }


def settings_of(connection: Connection) -> Settings:
    """The settings the connection's engine was built with (see app.db.make_engine)."""
    settings = connection.get_execution_options().get(ENGINE_SETTINGS)
    if not isinstance(settings, Settings):
        raise ChainKeyError(
            "the engine was not built by app.db.make_engine, so the activity key is unknown"
        )
    return settings


def key_source(settings: Settings) -> str:
    if settings.activity_key is not None:
        return "RONGHE_ACTIVITY_KEY"
    return str(settings.data_dir / KEY_FILE)


def check(session: Session, settings: Settings) -> bytes:
    """The local key, when it is the one the database's key record names; never creates one."""
    key = read_key(settings)
    record = session.get(ActivityKeyRecord, 1)
    if record is None:
        raise ChainKeyError(
            "the database has no activity key record: run `ronghe migrate`. If the database was "
            "migrated, the record was deleted: restore it from a backup"
        )
    if key is None:
        raise ChainKeyError(
            f"this database's activity log is signed with a key this host does not have "
            f"({key_source(settings)} is missing); {SAME_KEY_HINT}"
        )
    if not hmac.compare_digest(fingerprint(key), record.fingerprint):
        raise ChainKeyError(
            f"the activity key of this host ({key_source(settings)}) is not the key this "
            f"database's activity log is signed with; {SAME_KEY_HINT}"
        )
    return key


def chain_key(session: Session) -> bytes:
    """The activity key of the settings the session's engine was built with, once it is known
    to be the database's key; refuses (ChainKeyError) rather than sign with another key."""
    settings = settings_of(session.connection())
    slot = (settings.effective_database_url, str(settings.data_dir), _configured(settings))
    key = _checked.get(slot)
    if key is None:
        key = check(session, settings)
        _checked[slot] = key
    return key


def check_at_startup(session: Session) -> None:
    """Refuse to start with a key other than the database's (or none), rather than refuse
    every later change; a database without a schema yet is left to `ronghe migrate`."""
    if not inspect(session.connection()).has_table(ActivityKeyRecord.__tablename__):
        log.warning("the database has no schema yet: run `ronghe migrate`")
        return
    chain_key(session)


def forget() -> None:
    """Drop the keys checked so far: a restore replaces the key and the database."""
    _checked.clear()


def _configured(settings: Settings) -> bytes:
    if settings.activity_key is None:
        return b""
    return hashlib.sha256(settings.activity_key.get_secret_value().encode()).digest()
