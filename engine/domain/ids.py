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
