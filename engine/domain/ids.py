"""Deterministic ids: the same decision always gets the same id, so consumers can drop duplicates."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6b1f6d5e-3c1a-5b8e-9a7e-4b0b6f1d2c10")


def derived_event_id(cause_event_id: str, index: int) -> str:
    """Id of the index-th event decided in reaction to ``cause_event_id``."""
    return str(uuid.uuid5(NAMESPACE, f"{cause_event_id}/{index}"))


def timer_event_id(execution_id: str, job: str, attempt: int, kind: str) -> str:
    """Id of a timer firing: one per (job attempt, kind of deadline), however often it is fired."""
    return str(uuid.uuid5(NAMESPACE, f"timer/{execution_id}/{job}/{attempt}/{kind}"))


def execution_id_for_key(flow_name: str, idempotency_key: str, project: str | None = None) -> str:
    """The one execution id an idempotency key maps to (per flow, and per project for a project's flow)."""
    scope = f"{project}/{flow_name}" if project else flow_name
    return str(uuid.uuid5(NAMESPACE, f"idempotency/{scope}/{idempotency_key}"))


def unit_interval(seed: str) -> float:
    """A number in [0, 1) derived from ``seed``: deterministic jitter without a random generator."""
    return uuid.uuid5(NAMESPACE, seed).int % 1_000_000 / 1_000_000


def command_id(kind: str, execution_id: str, job: str, attempt: int) -> str:
    """Id of a dispatch or kill command: the same command sent again carries the same id."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{execution_id}/{job}/{attempt}"))


def schedule_tick_id(schedule_id: str, logical_time: int) -> str:
    """Id of a schedule's tick: one per (schedule, logical time), however often the processor writes it."""
    return str(uuid.uuid5(NAMESPACE, f"tick/{schedule_id}/{logical_time}"))


def run_ended_id(schedule_id: str, execution_id: str) -> str:
    """Id of the record telling a schedule that one of its executions ended: one per execution."""
    return str(uuid.uuid5(NAMESPACE, f"run-ended/{schedule_id}/{execution_id}"))


def schedule_idempotency_key(schedule_id: str, logical_time: int, cause: str = "schedule") -> str:
    """The idempotency key of the execution a schedule's tick starts: one per tick, whether it fired on time, was
    caught up or waited for an overlap; a manual trigger and a backfill's tick have keys of their own, so they
    start executions of their own."""
    kind = cause if cause in ("manual", "backfill") else "tick"
    return f"schedule/{schedule_id}/{kind}/{logical_time}"


def backfill_tick_id(schedule_id: str, backfill_id: str, logical_time: int) -> str:
    """Id of a backfill's tick: one per (schedule, backfill, logical time)."""
    return str(uuid.uuid5(NAMESPACE, f"backfill-tick/{schedule_id}/{backfill_id}/{logical_time}"))


def wait_expired_id(schedule_id: str, logical_time: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"wait-expired/{schedule_id}/{logical_time}"))


def dependency_met_id(schedule_id: str, logical_time: int, name: str) -> str:
    """One per (schedule, tick, dependency): the first matching record found is the one recorded."""
    return str(uuid.uuid5(NAMESPACE, f"dependency-met/{schedule_id}/{logical_time}/{name}"))
