"""Dead letters as an operator reads them: what was refused, why, where it came from in the log, and as much of
the record as can be shown safely (its key as text, a bounded preview of its bytes, the event it decodes to)."""

from __future__ import annotations

from typing import Any

from engine.codec import decode_event
from engine.service.context import Context
from projections import queries

PREVIEW_BYTES = 256


def preview(value: bytes | None) -> str:
    """The first bytes as text: printable ASCII kept, anything else escaped, so no byte of a hostile record is
    passed on as it is."""
    if value is None:
        return ""
    shown = "".join(chr(b) if 32 <= b < 127 and b != 0x5C else f"\\x{b:02x}" for b in value[:PREVIEW_BYTES])
    return shown + ("…" if len(value) > PREVIEW_BYTES else "")


def decoded(value: bytes | None) -> tuple[str | None, str | None]:
    """(event type, execution id) of a value that decodes as an event; a dead letter often does not."""
    if not value:
        return None, None
    try:
        event = decode_event(value)
    except Exception:  # undecodable is why most records are here; nothing about it is an error of this read
        return None, None
    return type(event.payload).__name__, event.execution_id


def listed(ctx: Context, limit: int, source_topic: str | None) -> dict[str, Any]:
    with ctx.db() as conn:
        rows = queries.dead_letters(conn, limit, source_topic)
    out = []
    for row in rows:
        key, value = row["key"], row["value"]
        event_type, execution_id = decoded(bytes(value) if value is not None else None)
        out.append({"partition": row["partition"], "offset": row["offset"], "reason": row["reason"],
                    "source_topic": row["source_topic"], "source_partition": row["source_partition"],
                    "source_offset": row["source_offset"],
                    "key": bytes(key).decode(errors="replace") if key is not None else None,
                    "value_size": len(value) if value is not None else 0,
                    "value_preview": preview(bytes(value) if value is not None else None),
                    "event_type": event_type, "execution_id": execution_id})
    return {"topic": ctx.settings.deadletter_topic, "dead_letters": out}
