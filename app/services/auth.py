"""Signing in and out: password check with throttling, server-side login sessions."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from app.errors import TooManyAttempts, Unauthenticated
from app.i18n import gettext as _
from app.models.auth import LoginAttempt, UserSession
from app.models.user import User
from app.security import dummy_hash, new_token, token_digest, verify_password
from app.services import activity
from app.services.user import normalize_email


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta
    max_per_account: int
    max_per_address: int


def _failures_since(
    session: Session, since: datetime, *, email: str | None, address: str | None
) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(col(LoginAttempt.at) >= since, col(LoginAttempt.succeeded).is_(False))
    )
    if email is not None:
        query = query.where(LoginAttempt.email == email)
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    return session.exec(query).one()


def check_throttle(
    *, session: Session, now: datetime, email: str, address: str, policy: ThrottlePolicy
) -> None:
    """Refuse further tries once an account or an address has failed too often in the window."""
    since = now - policy.window
    minutes = int(policy.window.total_seconds() // 60)
    if _failures_since(session, since, email=normalize_email(email), address=None) >= (
        policy.max_per_account
    ):
        raise TooManyAttempts(
            _(
                "Too many failed sign-ins for this account. Try again in %(minutes)d minutes.",
                minutes=minutes,
            )
        )
    if _failures_since(session, since, email=None, address=address) >= policy.max_per_address:
        raise TooManyAttempts(
            _(
                "Too many failed sign-ins from your network address. "
                "Try again in %(minutes)d minutes.",
                minutes=minutes,
            )
        )


def authenticate(
    *,
    session: Session,
    now: datetime,
    email: str,
    password: str,
    address: str,
    policy: ThrottlePolicy,
) -> User:
    """The active user with these credentials; every attempt is recorded for throttling."""
    email = normalize_email(email)
    check_throttle(session=session, now=now, email=email, address=address, policy=policy)
    user = session.exec(select(User).where(User.email == email)).first()
    valid = verify_password(password, user.password_hash if user else dummy_hash())
    succeeded = bool(user and valid and user.is_active)
    session.add(LoginAttempt(email=email, address=address[:64], succeeded=succeeded, at=now))
    if not succeeded or user is None:
        raise Unauthenticated(_("The e-mail address or password is not correct."))
    return user


def start_session(*, session: Session, now: datetime, user: User, lifetime: timedelta) -> str:
    """Open a login session; returns the cookie value (only its hash is stored)."""
    assert user.id is not None
    token = new_token()
    session.add(
        UserSession(
            token_hash=token_digest(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    activity.record(
        session=session,
        now=now,
        actor_id=user.id,
        verb="login",
        object_type="user",
        object_id=user.id,
    )
    return token


# Refreshing last_seen on every request would turn each page view into a write.
_TOUCH_EVERY = timedelta(minutes=5)


def resolve_session(
    *, session: Session, now: datetime, token: str, lifetime: timedelta
) -> tuple[UserSession, User] | None:
    """The live login session and its active user, sliding the expiry forward."""
    row = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == UserSession.user_id)
        .where(UserSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        return None
    login, user = row
    if login.expires_at <= now or not user.is_active:
        return None
    if now - login.last_seen_at >= _TOUCH_EVERY:
        login.last_seen_at = now
        login.expires_at = now + lifetime
        session.add(login)
    return login, user


def end_session(*, session: Session, now: datetime, token: str) -> None:
    """Log out: the session row is deleted, so the cookie is worthless even if copied."""
    login = session.exec(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).first()
    if login is None:
        return
    session.exec(delete(UserSession).where(col(UserSession.id) == login.id))
    activity.record(
        session=session,
        now=now,
        actor_id=login.user_id,
        verb="logout",
        object_type="user",
        object_id=login.user_id,
    )
