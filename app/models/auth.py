"""Login sessions and the login-attempt record used for throttling."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import utc_field
from app.models.user import EMAIL_MAX


class UserSession(SQLModel, table=True):
    """A server-side login session; the cookie carries only its random id, so logout is real."""

    __tablename__ = "user_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    expires_at: datetime = utc_field()


class LoginAttempt(SQLModel, table=True):
    """One sign-in try, kept for throttling (app/services/accounts/auth.py)."""

    __tablename__ = "login_attempt"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=EMAIL_MAX, index=True)
    # The client address, an IPv6 one as its /64 network (one subscriber's usual share).
    address: str = Field(max_length=64, index=True)
    # The known browser the try came from (its known-device cookie), or None for any other.
    device: str | None = Field(default=None, max_length=32)
    succeeded: bool
    at: datetime = utc_field(index=True)
