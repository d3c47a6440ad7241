"""Personal API tokens for /api/v1, stored hashed."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import utc_field
from app.models.user import NAME_MAX


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=NAME_MAX)
    # Only a SHA-256 of the token is kept; the prefix lets people tell their tokens apart.
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = utc_field()
    last_used_at: datetime | None = utc_field(default=None)
    revoked_at: datetime | None = utc_field(default=None)
