"""Password hashing, random tokens and CSRF tokens."""

import hashlib
import hmac
import secrets
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_strong = PasswordHash((Argon2Hasher(),))
# Tests create many users; a cheap argon2 keeps the suite fast without a different algorithm.
_fast = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


def hash_password(password: str, *, fast: bool = False) -> str:
    return (_fast if fast else _strong).hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    # Either hasher verifies any argon2 hash: parameters are stored inside the hash.
    return _strong.verify(password, password_hash)


@cache
def dummy_hash() -> str:
    """Verified against when an account does not exist, so that the response takes as long as
    for a real account and timing does not reveal which e-mail addresses have accounts."""
    return hash_password("not-a-real-password")


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(secret: str, csrf_cookie: str) -> str:
    """The form token matching a CSRF cookie; an attacker can neither read nor compute it."""
    return hmac.new(secret.encode(), csrf_cookie.encode(), hashlib.sha256).hexdigest()


def csrf_token_valid(secret: str, csrf_cookie: str | None, submitted: str | None) -> bool:
    if not csrf_cookie or not submitted:
        return False
    return hmac.compare_digest(csrf_token_for(secret, csrf_cookie), submitted)
