"""Commands the engine sends to workers (and to schedules), decided by ``react`` next to the events it appends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DispatchJob:
    """Run one attempt; goes to ``<prefix>.dispatch.<pool>``."""

    execution_id: str
    job: str
    attempt: int
    pool: str
    type: str
    config: Mapping[str, str]
    params: Mapping[str, str]
    inputs: Mapping[str, str] = field(default_factory=dict)  # "job:param" -> JSON text of upstream outputs
    timeout_ms: int | None = None
    lease_ms: int = 30_000
    cpu: float = 0.0
    memory_mb: int = 0
    flow_name: str | None = None  # with flow_started_at, what Azkaban's built-in properties need (dispatch v2)
    flow_started_at: int | None = None
    project: str | None = None
    archive: str | None = None  # sha256 of the project archive to run in (dispatch v2)


@dataclass(frozen=True)
class KillJob:
    """Stop an attempt (and never start it); broadcast on ``<prefix>.control``."""

    execution_id: str
    job: str
    attempt: int
    reason: str
    worker_id: str | None = None  # only this worker's copy (one that started an attempt already claimed); None: any


@dataclass(frozen=True)
class ReportRunEnded:
    """Tell a schedule that an execution it started has ended; goes to ``<prefix>.schedules``, keyed by the
    schedule, so that its overlap policy learns it whichever processor owns it."""

    schedule_id: str
    execution_id: str
    logical_time: int
    status: str
    detail: str | None = None


Command = DispatchJob | KillJob | ReportRunEnded
