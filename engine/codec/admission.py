"""Which records of the executions topic are events: one rule for the engine, its rebuild, the projector and
the audits, so that all of them fold exactly the same records.

A record is refused when it does not decode, when its key is not its execution id, when it claims to come from
the engine without the engine's signature (an HMAC of its bytes under KAFKABAN_ENGINE_KEY, in a header only the
engine sets), or when another producer writes what only the engine decides. The engine dead-letters refused
records with the reason; every other reader skips them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from engine.codec.errors import DecodeError
from engine.codec.records import decode_event
from engine.codec.schedule_records import decode_schedule_event
from engine.domain import events as ev
from engine.domain.schedule import events as se

ENGINE_MAC_HEADER = "kafkaban.engine-mac"

Headers = Iterable[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None


class Refused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def engine_mac(value: bytes, key: bytes) -> bytes:
    return hmac.new(key, value, hashlib.sha256).digest()


def signed(value: bytes, key: bytes) -> list[tuple[str, bytes]]:
    """The header the engine puts on every event it writes."""
    return [(ENGINE_MAC_HEADER, engine_mac(value, key))]


def header(headers: Headers, name: str) -> bytes | None:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for found, value in pairs:
        if found == name and value is not None:
            return value if isinstance(value, bytes) else value.encode()
    return None


def admit(key: bytes | None, value: bytes | None, headers: Headers, signing_key: bytes,
          registry_url: str | None = None) -> ev.Event:
    """The event a record holds, or Refused with the reason it is not one."""
    try:
        event = decode_event(value or b"", registry_url)
    except DecodeError as exc:
        raise Refused(exc.reason) from exc
    if key is not None and key != event.execution_id.encode():
        raise Refused(f"record key {key!r} differs from execution_id {event.execution_id!r}")
    _check_producer(event, value, headers, signing_key, ev.DECIDED_BY_ENGINE)
    return event


def admit_schedule(key: bytes | None, value: bytes | None, headers: Headers, signing_key: bytes,
                   registry_url: str | None = None) -> se.ScheduleEvent:
    """The schedule event a record of the schedules topic holds, or Refused: the same rule as for executions
    (decodes, key is the schedule id, engine records signed, engine-only decisions from the engine only)."""
    try:
        event = decode_schedule_event(value or b"", registry_url)
    except DecodeError as exc:
        raise Refused(exc.reason) from exc
    if key is not None and key != event.schedule_id.encode():
        raise Refused(f"record key {key!r} differs from schedule_id {event.schedule_id!r}")
    _check_producer(event, value, headers, signing_key, se.DECIDED_BY_ENGINE)
    return event


def _check_producer(event: ev.Event | se.ScheduleEvent, value: bytes | None, headers: Headers, signing_key: bytes,
                    engine_only: tuple[type, ...]) -> None:
    if event.producer == "engine":
        mac = header(headers, ENGINE_MAC_HEADER)
        if mac is None or not hmac.compare_digest(mac, engine_mac(value or b"", signing_key)):
            raise Refused(f"{event.type} {event.event_id} claims producer=engine but is not signed by the engine")
    elif isinstance(event.payload, engine_only):
        raise Refused(f"{event.type} is decided by the engine only; producer {event.producer!r} may not write it")
