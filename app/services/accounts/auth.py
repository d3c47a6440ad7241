"""Signing in and out: password check with throttling, server-side login sessions."""

import base64
import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, text
from sqlmodel import Session, col, delete, select

from app.errors import TooManyAttempts, Unauthenticated
from app.i18n import gettext as _
from app.i18n import ngettext
from app.models.auth import LoginAttempt, UserSession
from app.models.user import User
from app.security import dummy_hash, new_token, token_digest, verify_password
from app.services.accounts.users import normalize_email
from app.services.activity import service as activity
from app.settings import Settings


@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed sign-ins slow the next ones down.

    An account allows `max_per_account` failures in a row (a pause of `window` without one
    ends the row, as does a success); after that each further try waits `first_delay`, doubled
    with every further failure, never more than `max_delay`, counted from the latest failure.
    Failures are counted per account, not per address, so
    guessing from many addresses is slowed down as much as from one. A browser that proves an
    earlier sign-in to the account (the known-device cookie) is counted apart: only its own
    failures delay it, so a guesser cannot keep the owner out of their usual browser.
    Tries refused during a wait are not recorded, so they do not renew it.
    An address (an IPv6 /64 network) is stopped for the window after `max_per_address`
    failures on any accounts; a known browser is not, so a guesser behind a shared address
    cannot keep its colleagues out either.
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

    @property
    def failures_to_cap(self) -> int:
        """Failures in a row after which the delay is at its maximum."""
        ratio = self.max_delay / self.first_delay
        return self.max_per_account + max(0, math.ceil(math.log2(ratio))) + 1

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


def throttle_address(address: str) -> str:
    """The address as throttling counts it: an IPv6 one by its /64 network, which one
    subscriber usually gets whole, so rotating within it does not escape the address limit."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


# Accounts one browser is remembered for (a shared desk); the latest signed in come first.
KNOWN_ACCOUNTS_PER_BROWSER = 5
# A browser id is 22 characters (16 random bytes); the column holds up to this.
DEVICE_ID_MAX = 32


def _device_proof(secret: str, user_id: int, device: str) -> str:
    # A purpose prefix, so that no other HMAC made with the same secret can pass for this one.
    message = f"known-device:{user_id}:{device}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _device_entries(secret: str, cookie: str | None) -> list[tuple[int, str]]:
    """The (user id, browser id) pairs a known-device cookie proves; forged entries dropped."""
    proven = []
    for entry in (cookie or "").split("~")[:KNOWN_ACCOUNTS_PER_BROWSER]:
        parts = entry.split(".")
        # The cookie is whatever the client sends: a number of any length or a proof in any
        # characters must not reach int() or compare_digest() on str, which raise.
        if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()):
            continue
        if len(parts[0]) > 18 or len(parts[1]) > DEVICE_ID_MAX:
            continue
        user_id, device, proof = int(parts[0]), parts[1], parts[2]
        expected = _device_proof(secret, user_id, device)
        if hmac.compare_digest(expected.encode(), proof.encode(errors="replace")):
            proven.append((user_id, device))
    return proven


def known_device(*, secret: str, cookie: str | None, user_id: int) -> str | None:
    """The id of the browser, if its known-device cookie proves an earlier sign-in by this user."""
    return next((d for u, d in _device_entries(secret, cookie) if u == user_id), None)


def remember_device(*, secret: str, cookie: str | None, user_id: int) -> str:
    """The known-device cookie after this user signed in: a browser already known keeps its id."""
    entries = _device_entries(secret, cookie)
    device = next((d for u, d in entries if u == user_id), None) or secrets.token_urlsafe(16)
    others = [(u, d) for u, d in entries if u != user_id]
    kept = [(user_id, device), *others][:KNOWN_ACCOUNTS_PER_BROWSER]
    return "~".join(f"{u}.{d}.{_device_proof(secret, u, d)}" for u, d in kept)


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _account_wait(
    session: Session, now: datetime, email: str, device: str | None, policy: ThrottlePolicy
) -> timedelta:
    # Unknown browsers share one count per account, whatever their addresses; a known
    # browser has a count of its own.
    same_kind = (
        col(LoginAttempt.device).is_(None) if device is None else LoginAttempt.device == device
    )
    longest = policy.window * policy.failures_to_cap
    last_success = session.exec(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email,
            same_kind,
            col(LoginAttempt.succeeded),
            col(LoginAttempt.at) > now - longest,
        )
    ).one()
    failures = session.exec(
        select(LoginAttempt.at)
        .where(
            LoginAttempt.email == email,
            same_kind,
            col(LoginAttempt.succeeded).is_(False),
            col(LoginAttempt.at) > (last_success or now - longest),
        )
        .order_by(col(LoginAttempt.at).desc())
        .limit(policy.failures_to_cap)
    ).all()
    # Failures are in a row until a pause of the window: a guesser pacing just under it does
    # not see the earlier ones age out, as they would in a plain sliding window.
    in_a_row, later = 0, now
    for at in failures:
        if later - at >= policy.window:
            break
        in_a_row, later = in_a_row + 1, at
    if in_a_row == 0:
        return timedelta(0)
    wait: timedelta = failures[0] + policy.delay(in_a_row) - now
    return wait


def _address_wait(
    session: Session, now: datetime, address: str, policy: ThrottlePolicy
) -> timedelta:
    recent = (
        select(LoginAttempt.at)
        .where(
            LoginAttempt.address == address,
            col(LoginAttempt.device).is_(None),
            col(LoginAttempt.succeeded).is_(False),
            col(LoginAttempt.at) > now - policy.window,
        )
        .order_by(col(LoginAttempt.at).desc())
    )
    # The failure whose ageing out of the window brings the address back under its limit.
    freeing = session.exec(recent.offset(policy.max_per_address - 1).limit(1)).first()
    return timedelta(0) if freeing is None else freeing + policy.window - now


# The first key of the two-key advisory locks that serialise sign-ins per e-mail address.
_SIGN_IN_LOCKS = 2300113


def _serialise_per_email(session: Session, email: str) -> None:
    # Check, then record: without this, simultaneous guesses on one account would all pass
    # the check before any of their failures is committed. The lock lasts until the request
    # commits its attempt. On SQLite every transaction already holds the database's write
    # lock from its start (app/db.py, BEGIN IMMEDIATE).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:email))"),
            {"space": _SIGN_IN_LOCKS, "email": email},
        )


def check_throttle(
    *,
    session: Session,
    now: datetime,
    email: str,
    address: str,
    device: str | None,
    policy: ThrottlePolicy,
) -> None:
    """Refuse a try while the account's delay runs for this kind of browser, or the address is
    stopped (never a known browser).

    The answer is the same whether or not the account exists: attempts are counted by the
    e-mail address typed, not by user."""
    email = normalize_email(email)
    wait = _account_wait(session, now, email, device, policy)
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
    if device is not None:
        return
    wait = _address_wait(session, now, throttle_address(address), policy)
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
    device_cookie: str | None,
    secret: str,
    policy: ThrottlePolicy,
) -> User:
    """The active user with these credentials; every attempt is recorded for throttling."""
    email = normalize_email(email)
    _serialise_per_email(session, email)
    user = session.exec(select(User).where(User.email == email)).first()
    device = None
    if user is not None and user.id is not None:
        device = known_device(secret=secret, cookie=device_cookie, user_id=user.id)
    check_throttle(
        session=session, now=now, email=email, address=address, device=device, policy=policy
    )
    valid = verify_password(password, user.password_hash if user else dummy_hash())
    succeeded = bool(user and valid and user.is_active)
    session.add(
        LoginAttempt(
            email=email,
            address=throttle_address(address),
            device=device,
            succeeded=succeeded,
            at=now,
        )
    )
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
