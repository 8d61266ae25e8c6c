"""Passwords and API tokens: made, hashed and checked here, never kept or shown in clear.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile). A token is
``kbt_<id>_<secret>``: the id finds its record, and only the SHA-256 of the secret is stored. The secret has 256
bits of entropy, so a fast hash is enough there (GitHub and PyPI store theirs the same way); a slow one would only
slow every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "kbt_"
_TOKEN = re.compile(r"kbt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; a megabyte "password" would only be a CPU sink

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(password: str, stored_hash: str | None) -> bool:
    if stored_hash is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# checked against when a user name is unknown, so a miss costs what a wrong password costs
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class NewToken:
    token_id: str
    secret_hash: str
    token: str  # shown once, to whoever created it


def new_token() -> NewToken:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewToken(token_id, secret_digest(secret), f"{TOKEN_PREFIX}{token_id}_{secret}")


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(token id, digest of its secret), or None for anything not shaped as a Kafkaban token."""
    found = _TOKEN.fullmatch(token)
    if found is None:
        return None
    return found.group(1), secret_digest(found.group(2))


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
