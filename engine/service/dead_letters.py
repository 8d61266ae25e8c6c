"""Dead letters as an operator reads them: what was refused, why, where it came from in the log, and as much of
the record as can be shown safely (its key as text, a bounded preview of its bytes, the event it decodes to).

Read from the dead-letter topic itself, not from the projector's copy: the page is where an operator looks when
something is wrong, which may be the projector, and only the log has when each record was dead-lettered."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException

from engine.clock import iso_from_ms
from engine.codec import codec
from engine.config import Settings
from engine.log_reader import DeadLetter, read_dead_letters
from engine.service.context import Context
from engine.service.errors import ServiceError

PREVIEW_BYTES = 256
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
READ_TIMEOUT_S = 10.0  # a slow or unreachable broker is a 503 the page can show, not a request that hangs
RETRY_AFTER_S = 5
# the topics whose records carry an event type and (most) an execution id; access records are left undecoded
DECODED_TOPICS = frozenset({"executions", "control", "dispatch", "heartbeats", "logs", "definitions", "schedules"})


def preview(value: bytes | None) -> str:
    """The first bytes as text: printable ASCII kept, anything else escaped, so no byte of a hostile record is
    passed on as it is."""
    if value is None:
        return ""
    shown = "".join(chr(b) if 32 <= b < 127 and b != 0x5C else f"\\x{b:02x}" for b in value[:PREVIEW_BYTES])
    return shown + ("…" if len(value) > PREVIEW_BYTES else "")


def codec_name(settings: Settings, topic: str | None) -> str | None:
    """The codec of a source topic (``<prefix>.executions`` -> executions, ``<prefix>.dispatch.<pool>`` ->
    dispatch), or None for a topic that is not one of this deployment's."""
    name = settings.topic_kind(topic) if topic is not None else None
    return name if name in DECODED_TOPICS else None


def decoded(value: bytes | None, topic: str | None = "executions", registry_url: str | None = None,
            ) -> tuple[str | None, str | None]:
    """(event type, execution id) of a value that decodes with its topic's codec; a dead letter often does not."""
    if not value or topic is None:
        return None, None
    try:
        record = codec(topic, registry_url).decode(value)
    except Exception:  # undecodable is why most records are here; nothing about it is an error of this read
        return None, None
    payload, execution_id = record.get("payload"), record.get("execution_id")
    event_type = payload[0].rsplit(".", 1)[-1] if isinstance(payload, tuple) and isinstance(payload[0], str) else None
    return event_type, str(execution_id) if execution_id is not None else None


def shown(settings: Settings, letter: DeadLetter) -> dict[str, Any]:
    """One dead letter as the API answers it: bounded whatever the record holds."""
    event_type, execution_id = decoded(letter.value, codec_name(settings, letter.source_topic),
                                       settings.schema_registry_url)
    return {"partition": letter.partition, "offset": letter.offset,
            "dead_lettered_at": iso_from_ms(letter.timestamp_ms) if letter.timestamp_ms is not None else None,
            "reason": letter.reason, "source_topic": letter.source_topic,
            "source_partition": letter.source_partition, "source_offset": letter.source_offset,
            "key": letter.key.decode(errors="replace") if letter.key is not None else None,
            "value_size": len(letter.value) if letter.value is not None else 0,
            "value_preview": preview(letter.value), "event_type": event_type, "execution_id": execution_id}


def newest(settings: Settings, limit: int = DEFAULT_LIMIT, source_topic: str | None = None,
           timeout: float = READ_TIMEOUT_S) -> list[dict[str, Any]]:
    """The newest ``limit`` dead letters, newest first, of the newest ``limit`` of each partition: with
    ``source_topic``, only those that came from it (so it can answer fewer than there are). ServiceError 503 when
    the broker does not answer within ``timeout``."""
    limit = max(1, min(limit, MAX_LIMIT))
    found: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    try:
        for letter in read_dead_letters(settings, newest=limit, timeout=timeout):
            if source_topic is None or letter.source_topic == source_topic:
                # shown as read, so that only the bounded form of each record is kept
                order = (letter.timestamp_ms or 0, letter.partition, letter.offset)
                found.append((order, shown(settings, letter)))
    except (TimeoutError, KafkaException, RuntimeError) as exc:
        raise ServiceError(503, f"could not read the dead-letter topic {settings.deadletter_topic}: {exc}",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from exc
    found.sort(key=lambda item: item[0], reverse=True)
    return [item for _order, item in found[:limit]]


def listed(ctx: Context, limit: int = DEFAULT_LIMIT, source_topic: str | None = None) -> dict[str, Any]:
    return {"topic": ctx.settings.deadletter_topic,
            "dead_letters": newest(ctx.settings, limit, source_topic)}
