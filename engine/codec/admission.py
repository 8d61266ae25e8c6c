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

The engine also signs each end of an execution (``ev.ENDING_EVENTS``) with Ed25519, in a second header, under a
key pair derived from KAFKABAN_ENGINE_KEY: a service that follows ends (``admit_end``) then needs only the public
key, which cannot sign. Only the ends, because an Ed25519 signature costs about 17 HMACs and an execution has one
end among its ~14 events.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engine.codec.errors import DecodeError
from engine.codec.partitioning import Placement, partition_for
from engine.codec.records import decode_event
from engine.codec.schedule_records import decode_schedule_event
from engine.domain import events as ev
from engine.domain.schedule import events as se

ENGINE_MAC_HEADER = "kafkaban.engine-mac"
ENGINE_SIG_HEADER = "kafkaban.engine-sig"
# the Ed25519 seed is HMAC-SHA256(engine key, this): fixed, so every engine with the key derives the same pair;
# changing it changes the public key every follower is configured with
END_KEY_CONTEXT = b"kafkaban/engine-end-signature/ed25519/v1"
SIGNATURE_BYTES = 64

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


def signed(value: bytes, key: bytes, end: bool = False) -> list[tuple[str, bytes]]:
    """The headers the engine puts on every event it writes: the HMAC, and for an ``end`` the Ed25519 signature."""
    headers = [(ENGINE_MAC_HEADER, engine_mac(value, key))]
    if end:
        headers.append((ENGINE_SIG_HEADER, _end_signer(key).sign(value)))
    return headers


@functools.lru_cache(maxsize=8)
def _end_signer(key: bytes) -> Ed25519PrivateKey:
    # derived once per key, not per end: the derivation is a scalar multiplication
    return Ed25519PrivateKey.from_private_bytes(hmac.new(key, END_KEY_CONTEXT, hashlib.sha256).digest())


def engine_public_key(key: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key the engine's ends are verified with, derived from the engine key."""
    return _end_signer(key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@functools.lru_cache(maxsize=8)
def _end_verifier(public_key: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise ValueError(f"an engine public key is 32 bytes of Ed25519, not {len(public_key)} bytes") from exc


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
    _check(event, event.execution_id, "execution_id", key, lambda: _mac_signed(headers, value, signing_key),
           ev.DECIDED_BY_ENGINE)
    _placed(event, event.execution_id, at)
    return event


def admit_end(key: bytes | None, value: bytes | None, headers: Headers, public_key: bytes,
              registry_url: str | None = None, at: Placement | None = None) -> ev.Event:
    """``admit`` for a reader holding only the engine's public key (a follower of ends): the same decoding, key and
    placement checks, and an end must carry the engine's Ed25519 signature of the record's bytes. Another engine
    event carries only the HMAC, which this reader cannot check, so it is refused; what only the engine decides is
    refused from any other producer, as by ``admit``."""
    event = _decoded(decode_event, value, registry_url)

    def end_signed() -> bool:
        if not isinstance(event.payload, ev.ENDING_EVENTS):
            raise Refused(f"{event.type} {event.event_id} is an engine event other than an end: it carries no "
                          f"signature the engine's public key checks")
        signature = header(headers, ENGINE_SIG_HEADER)
        return signature is not None and _end_signed(signature, value or b"", public_key)

    _check(event, event.execution_id, "execution_id", key, end_signed, ev.DECIDED_BY_ENGINE)
    _placed(event, event.execution_id, at)
    return event


def _end_signed(signature: bytes, value: bytes, public_key: bytes) -> bool:
    if len(signature) != SIGNATURE_BYTES:  # a hostile header of any other length is no signature
        return False
    try:
        _end_verifier(public_key).verify(signature, value)
    except InvalidSignature:
        return False
    return True


def admit_schedule(key: bytes | None, value: bytes | None, headers: Headers, signing_key: bytes,
                   registry_url: str | None = None, at: Placement | None = None) -> se.ScheduleEvent:
    """The schedule event a record of the schedules topic holds, or Refused: the same rule as for executions."""
    event = _decoded(decode_schedule_event, value, registry_url)
    _check(event, event.schedule_id, "schedule_id", key, lambda: _mac_signed(headers, value, signing_key),
           se.DECIDED_BY_ENGINE)
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


def _check(event: ev.Event | se.ScheduleEvent, entity: str, key_name: str, key: bytes | None,
           engine_signed: Callable[[], bool], engine_only: tuple[type, ...]) -> None:
    """The key is the entity's id; an engine record carries the engine's signature (``engine_signed``, asked only
    of records claiming producer=engine); what only the engine decides comes from the engine."""
    if key is not None and key != entity.encode():
        raise Refused(f"record key {key!r} differs from {key_name} {entity!r}")
    if event.producer == "engine":
        if not engine_signed():
            raise Refused(f"{event.type} {event.event_id} claims producer=engine but is not signed by the engine")
    elif isinstance(event.payload, engine_only):
        raise Refused(f"{event.type} is decided by the engine only; producer {event.producer!r} may not write it")


def _mac_signed(headers: Headers, value: bytes | None, signing_key: bytes) -> bool:
    mac = header(headers, ENGINE_MAC_HEADER)
    return mac is not None and hmac.compare_digest(mac, engine_mac(value or b"", signing_key))
