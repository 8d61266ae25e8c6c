"""Which records of the executions topic are events: one rule for the engine, its rebuild, the projector and
the audits, so that all of them fold exactly the same records.

A record is refused when it does not decode, when its key is not its execution id, when it claims to come from
the engine without the engine's signature (an HMAC of its bytes under KAFKABAN_ENGINE_KEY, in a header only the
engine sets), or when another producer writes what only the engine decides. The engine dead-letters refused
records with the reason; every other reader skips them.

A record that is an event but sits on another partition than its key's (a producer with another partitioner than
murmur2, or an explicit partition) is Misplaced: it is folded nowhere where it lies, since an execution's order is
its own partition's order. The engine forwards it, the same bytes and headers, to its key's partition, where every
reader folds the copy like any other record.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from engine.codec.errors import DecodeError
from engine.codec.partitioning import Placement, partition_for
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


class Misplaced(Refused):
    """An admitted event read on another partition than its key's: the engine forwards it to ``home``."""

    def __init__(self, event: ev.Event | se.ScheduleEvent, entity: str, partition: int, home: int) -> None:
        super().__init__(f"{event.type} {event.event_id} of {entity} is on partition {partition}, its key's "
                         f"partition is {home}: its producer does not partition by murmur2")
        self.event, self.entity, self.partition, self.home = event, entity, partition, home


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
          registry_url: str | None = None, at: Placement | None = None) -> ev.Event:
    """The event a record of the executions topic holds, or Refused with the reason it is not one (Misplaced when
    it is one but ``at`` is not its key's partition). Every reader of a partition passes ``at``."""
    event = _decoded(decode_event, value, registry_url)
    _check(event, event.execution_id, "execution_id", key, value, headers, signing_key, ev.DECIDED_BY_ENGINE)
    _placed(event, event.execution_id, at)
    return event


def admit_schedule(key: bytes | None, value: bytes | None, headers: Headers, signing_key: bytes,
                   registry_url: str | None = None, at: Placement | None = None) -> se.ScheduleEvent:
    """The schedule event a record of the schedules topic holds, or Refused: the same rule as for executions."""
    event = _decoded(decode_schedule_event, value, registry_url)
    _check(event, event.schedule_id, "schedule_id", key, value, headers, signing_key, se.DECIDED_BY_ENGINE)
    _placed(event, event.schedule_id, at)
    return event


def home_partition(entity: str, partitions: int) -> int:
    """The partition every event of an execution (or a schedule) is folded from: its id's, by murmur2."""
    return partition_for(entity.encode(), partitions)


def _placed(event: ev.Event | se.ScheduleEvent, entity: str, at: Placement | None) -> None:
    if at is not None and (home := home_partition(entity, at.partitions)) != at.partition:
        raise Misplaced(event, entity, at.partition, home)


T = TypeVar("T")


def _decoded(decode: Callable[[bytes, str | None], T], value: bytes | None, registry_url: str | None) -> T:
    try:
        return decode(value or b"", registry_url)
    except DecodeError as exc:
        raise Refused(exc.reason) from exc


def _check(event: ev.Event | se.ScheduleEvent, entity: str, key_name: str, key: bytes | None, value: bytes | None,
           headers: Headers, signing_key: bytes, engine_only: tuple[type, ...]) -> None:
    """The key is the entity's id; an engine record carries the engine's signature; what only the engine decides
    comes from the engine."""
    if key is not None and key != entity.encode():
        raise Refused(f"record key {key!r} differs from {key_name} {entity!r}")
    if event.producer == "engine":
        mac = header(headers, ENGINE_MAC_HEADER)
        if mac is None or not hmac.compare_digest(mac, engine_mac(value or b"", signing_key)):
            raise Refused(f"{event.type} {event.event_id} claims producer=engine but is not signed by the engine")
    elif isinstance(event.payload, engine_only):
        raise Refused(f"{event.type} is decided by the engine only; producer {event.producer!r} may not write it")
