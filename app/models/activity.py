"""The append-only change log. Named "activity" because "audit" means internal audit here."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.models.base import utc_field


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
    # altered or deleted row breaks the chain from that point on.
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
