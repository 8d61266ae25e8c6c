"""Deterministic ids: the same decision always gets the same id, so consumers can drop duplicates."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("6b1f6d5e-3c1a-5b8e-9a7e-4b0b6f1d2c10")
_NAMESPACE_BYTES = NAMESPACE.bytes


def _name_bytes(name: str) -> bytes:
    """The 16 bytes of ``uuid.uuid5(NAMESPACE, name)``, computed without building UUID objects (a schedule's firing
    derives several ids, and uuid5 was a tenth of its cost)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(digest)


def name_id(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))``: the id every deterministic id below is made of."""
    h = _name_bytes(name).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def derived_event_id(cause_event_id: str, index: int) -> str:
    """Id of the index-th event decided in reaction to ``cause_event_id``."""
    return name_id(f"{cause_event_id}/{index}")


def timer_event_id(execution_id: str, job: str, attempt: int, kind: str) -> str:
    """Id of a timer firing: one per (job attempt, kind of deadline), however often it is fired."""
    return name_id(f"timer/{execution_id}/{job}/{attempt}/{kind}")


def execution_id_for_key(flow_name: str, idempotency_key: str, project: str | None = None) -> str:
    """The one execution id an idempotency key maps to (per flow, and per project for a project's flow)."""
    scope = f"{project}/{flow_name}" if project else flow_name
    return name_id(f"idempotency/{scope}/{idempotency_key}")


def unit_interval(seed: str) -> float:
    """A number in [0, 1) derived from ``seed``: deterministic jitter without a random generator."""
    return int.from_bytes(_name_bytes(seed)) % 1_000_000 / 1_000_000


def command_id(kind: str, execution_id: str, job: str, attempt: int) -> str:
    """Id of a dispatch or kill command: the same command sent again carries the same id."""
    return name_id(f"{kind}/{execution_id}/{job}/{attempt}")


def schedule_tick_id(schedule_id: str, logical_time: int) -> str:
    """Id of a schedule's tick: one per (schedule, logical time), however often the processor writes it."""
    return name_id(f"tick/{schedule_id}/{logical_time}")


def run_ended_id(schedule_id: str, execution_id: str) -> str:
    """Id of the record telling a schedule that one of its executions ended: one per execution."""
    return name_id(f"run-ended/{schedule_id}/{execution_id}")


def schedule_idempotency_key(schedule_id: str, logical_time: int, cause: str = "schedule") -> str:
    """The idempotency key of the execution a schedule's tick starts: one per tick, whether it fired on time, was
    caught up or waited for an overlap; a manual trigger and a backfill's tick have keys of their own, so they
    start executions of their own."""
    kind = cause if cause in ("manual", "backfill") else "tick"
    return f"schedule/{schedule_id}/{kind}/{logical_time}"


def backfill_tick_id(schedule_id: str, backfill_id: str, logical_time: int) -> str:
    """Id of a backfill's tick: one per (schedule, backfill, logical time)."""
    return name_id(f"backfill-tick/{schedule_id}/{backfill_id}/{logical_time}")


def wait_expired_id(schedule_id: str, logical_time: int) -> str:
    return name_id(f"wait-expired/{schedule_id}/{logical_time}")


def dependency_met_id(schedule_id: str, logical_time: int, name: str) -> str:
    """One per (schedule, tick, dependency): the first matching record found is the one recorded."""
    return name_id(f"dependency-met/{schedule_id}/{logical_time}/{name}")
