"""Signing in and out: password check with throttling, server-side login sessions."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func
from sqlmodel import Session, col, delete, select

from app.errors import TooManyAttempts, Unauthenticated
from app.i18n import gettext as _
from app.i18n import ngettext
from app.models.auth import LoginAttempt, UserSession
from app.models.user import User
from app.security import dummy_hash, new_token, token_digest, verify_password
from app.services import activity
from app.services.user import normalize_email
from app.settings import Settings


@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed sign-ins slow the next ones down.

    An account allows `max_per_account` failures within `window`; after that each further try
    waits `first_delay`, doubled with every further failure, never more than `max_delay`.
    The wait runs from the last failure *from the same address*: a guesser cannot keep the
    owner out from elsewhere, and from a shared address only for `max_delay` after their
    last guess. Tries refused during a wait are not recorded, so they do not renew it.
    An address is stopped for the window after `max_per_address` failures on any accounts.
    """

    window: timedelta
    max_per_account: int
    max_per_address: int
    first_delay: timedelta
    max_delay: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "ThrottlePolicy":
        return cls(
            window=timedelta(minutes=settings.login_window_minutes),
            max_per_account=settings.login_max_failures_per_account,
            max_per_address=settings.login_max_failures_per_address,
            first_delay=timedelta(seconds=settings.login_delay_seconds),
            max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        )

    def delay(self, failures: int) -> timedelta:
        """The wait after this many failures in a row (none up to the free ones)."""
        if failures < self.max_per_account:
            return timedelta(0)
        doublings = min(failures - self.max_per_account, 32)
        return min(self.first_delay * (1 << doublings), self.max_delay)


class SignInThrottled(TooManyAttempts):
    """A sign-in refused for a while; `retry_after` says for how many seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _account_wait(
    session: Session, now: datetime, email: str, address: str, policy: ThrottlePolicy
) -> timedelta:
    since = now - policy.window
    last_success = session.exec(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, col(LoginAttempt.succeeded), col(LoginAttempt.at) > since
        )
    ).one()
    failures = (
        select(LoginAttempt)
        .where(
            LoginAttempt.email == email,
            col(LoginAttempt.succeeded).is_(False),
            col(LoginAttempt.at) > (last_success or since),
        )
        .subquery()
    )
    row = session.exec(
        select(
            func.count(),
            func.max(case((failures.c.address == address, failures.c.at))),
        ).select_from(failures)
    ).one()
    count: int = row[0]
    last_from_here: datetime | None = row[1]
    if last_from_here is None:
        return timedelta(0)
    return last_from_here + policy.delay(count) - now


def _address_wait(
    session: Session, now: datetime, address: str, policy: ThrottlePolicy
) -> timedelta:
    recent = (
        select(LoginAttempt.at)
        .where(
            LoginAttempt.address == address,
            col(LoginAttempt.succeeded).is_(False),
            col(LoginAttempt.at) > now - policy.window,
        )
        .order_by(col(LoginAttempt.at).desc())
    )
    # The failure whose ageing out of the window brings the address back under its limit.
    freeing = session.exec(recent.offset(policy.max_per_address - 1).limit(1)).first()
    return timedelta(0) if freeing is None else freeing + policy.window - now


def check_throttle(
    *, session: Session, now: datetime, email: str, address: str, policy: ThrottlePolicy
) -> None:
    """Refuse a try while the account's delay for this address runs, or the address is stopped.

    The answer is the same whether or not the account exists: attempts are counted by the
    e-mail address typed, not by user."""
    email, address = normalize_email(email), address[:64]
    wait = _account_wait(session, now, email, address, policy)
    if wait > timedelta(0):
        seconds = _seconds(wait)
        raise SignInThrottled(
            ngettext(
                "Too many failed sign-ins. Wait %(num)d second before trying again.",
                "Too many failed sign-ins. Wait %(num)d seconds before trying again.",
                seconds,
            ),
            retry_after=seconds,
        )
    wait = _address_wait(session, now, address, policy)
    if wait > timedelta(0):
        seconds = _seconds(wait)
        raise SignInThrottled(
            _(
                "Too many failed sign-ins from your network address. "
                "Try again in %(minutes)d minutes.",
                minutes=math.ceil(seconds / 60),
            ),
            retry_after=seconds,
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
