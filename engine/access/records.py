"""The access log's records (topic ``<prefix>.access``, schema access.v1): every change to users, groups, tokens
and project permissions is one, so the log shows who granted what, and the views are its fold."""

from __future__ import annotations

import uuid
from typing import Any

from engine.codec.records import envelope

NAMESPACE = "kafkaban.access"
# payload fields that are secrets' hashes: in the log (the views need them to check a login) but never in the
# access history the API shows
HASH_FIELDS = frozenset({"password_hash", "secret_sha256"})


def user_subject(name: str) -> str:
    return f"user:{name}"


def access_record(subject: str, record_type: str, body: dict[str, Any], occurred_at: int) -> dict[str, Any]:
    """An access record; user records are keyed by the user, so a user's changes keep their order."""
    return envelope({"event_id": str(uuid.uuid4()), "subject": subject, "occurred_at": occurred_at,
                     "producer": "api"}, "subject", (f"{NAMESPACE}.{record_type}", body))


def shown(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload as the access history shows it: hashes left out."""
    return {key: value for key, value in payload.items() if key not in HASH_FIELDS}
