"""What a schedule's decisions ask of the world: start an execution, stop one. The processor carries them out on
the executions topic; both are idempotent there (the execution id is derived from the tick; a second cancel of
the same execution changes nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StartExecution:
    schedule_id: str
    execution_id: str
    logical_time: int
    flow: str  # a flow name, or PROJECT/FLOW
    version: str | None
    params: Mapping[str, str]
    idempotency_key: str


@dataclass(frozen=True)
class StopExecution:
    schedule_id: str
    execution_id: str
    reason: str


ScheduleCommand = StartExecution | StopExecution
