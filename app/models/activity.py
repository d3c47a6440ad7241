"""The append-only change log. Named "activity" because "audit" means internal audit here."""

from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import JSON, LargeBinary
from sqlmodel import Field, SQLModel

from app.models.base import utc_field


class HashRule(IntEnum):
    # Events written before the chain had a key: plain SHA-256, which anyone who can write to
    # the database can recompute. Verified by that rule, but only up to the point the key
    # record seals (see services/activity/key.py).
    sha256 = 1
    # HMAC-SHA256 with the activity key, which is kept outside the database.
    hmac_sha256 = 2


class ActivityEvent(SQLModel, table=True):
    __tablename__ = "activity_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    verb: str = Field(max_length=32)
    object_type: str = Field(max_length=48)
    object_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # Each event hashes its content together with the previous event's hash, so that an
    # altered or deleted row breaks the chain from that point on; the hash is keyed, so that
    # rewriting the rest of the chain after an edit needs the key (see services/activity/chain.py).
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    # The database default is the rule of the rows that existed before the column did.
    hash_rule: int = Field(
        default=HashRule.hmac_sha256, sa_column_kwargs={"server_default": str(HashRule.sha256)}
    )


class ActivityKeyRecord(SQLModel, table=True):
    """One row, written when the key was introduced: which key signs this database's log, and
    where the events from before the key end (see services/activity/key.py)."""

    __tablename__ = "activity_key_record"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = utc_field()
    # The unkeyed events: how many, and the newest one's id (0: none).
    unkeyed_count: int
    unkeyed_head_id: int
    # HMAC-SHA256 digests under the key: of a fixed label, and of the unkeyed events' end.
    fingerprint: bytes = Field(sa_type=LargeBinary)
    seal: bytes = Field(sa_type=LargeBinary)
