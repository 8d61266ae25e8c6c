"""Browser sessions: a signed cookie (HMAC-SHA256) naming the user, when it was opened and until when it holds,
with a CSRF token the page must send back on every write. Stateless, so any API process with the same key reads
it; a session ends at its expiry, when its user is deleted, or when the password changes after it was opened. A
session opened with a token (the web UI's "log in with a token") names that token, and ends when it does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "kafkaban_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_MS = 12 * 3600 * 1000


@dataclass(frozen=True)
class Session:
    user: str
    opened_at: int  # ms
    expires_at: int  # ms
    csrf: str
    token: str | None = None  # the token id it was opened with, or "bootstrap:<fingerprint>"; None: a password


class SessionSigner:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, body, hashlib.sha256).digest()).decode().rstrip("=")

    def open(self, user: str, now_ms: int, ttl_ms: int = SESSION_TTL_MS,
             token: str | None = None) -> tuple[str, Session]:
        session = Session(user, now_ms, now_ms + ttl_ms, secrets.token_urlsafe(24), token)
        fields: dict[str, object] = {"u": session.user, "o": session.opened_at, "e": session.expires_at,
                                     "c": session.csrf}
        if token is not None:
            fields["t"] = token
        body = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode())
        return f"{body.decode()}.{self._mac(body)}", session

    def read(self, cookie: str, now_ms: int) -> Session | None:
        """The session a cookie holds, or None when it is forged, malformed or expired."""
        body, _, mac = cookie.partition(".")
        if not body or not mac or len(cookie) > 4096:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(body.encode()).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            token = data.get("t")
            session = Session(str(data["u"]), int(data["o"]), int(data["e"]), str(data["c"]),
                              None if token is None else str(token))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
            return None
        return session if session.expires_at > now_ms else None


def fingerprint(key: bytes, secret: str) -> str:
    """What a session opened with the bootstrap token keeps of it: enough to end the session once the token
    changes, nothing that would let the cookie's reader recover the token."""
    return base64.urlsafe_b64encode(hmac.new(key, b"bootstrap:" + secret.encode(), hashlib.sha256).digest()[:12]
                                    ).decode()
