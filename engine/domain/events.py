"""Events of the executions topic: one frozen dataclass per record of schemas/executions.v*.avsc.

Class names equal the Avro record names; field names equal the Avro field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.domain.spec import FlowSpec


@dataclass(frozen=True)
class ExecutionSubmitted:
    flow_name: str
    definition_hash: str
    definition: FlowSpec
    params: Mapping[str, str] = field(default_factory=dict)
    submitter: str = "unknown"
    idempotency_key: str | None = None
    schedule_id: str | None = None
    logical_time: int | None = None
    project: str | None = None  # submitted as PROJECT/FLOW (executions v3)
    archive: str | None = None  # sha256 of the project archive its jobs run in


@dataclass(frozen=True)
class ExecutionRejected:
    errors: tuple[str, ...]


@dataclass(frozen=True)
class JobQueued:
    job: str
    attempt: int


@dataclass(frozen=True)
class JobDispatched:
    job: str
    attempt: int
    pool: str
    lease_ms: int


@dataclass(frozen=True)
class JobStarted:
    job: str
    attempt: int
    worker_id: str


@dataclass(frozen=True)
class JobSucceeded:
    job: str
    attempt: int
    exit_code: int = 0
    outputs: Mapping[str, str] = field(default_factory=dict)
    worker_id: str | None = None  # v2: who ran it; a result from another worker than the claim's changes nothing


@dataclass(frozen=True)
class JobFailed:
    job: str
    attempt: int
    exit_code: int | None
    error: str
    worker_id: str | None = None  # v2, as JobSucceeded's


@dataclass(frozen=True)
class JobRetryScheduled:
    job: str
    attempt: int
    not_before: int


@dataclass(frozen=True)
class JobTimedOut:
    job: str
    attempt: int


@dataclass(frozen=True)
class JobLost:
    job: str
    attempt: int


@dataclass(frozen=True)
class JobSkipped:
    job: str
    reason: str


@dataclass(frozen=True)
class JobCancelled:
    job: str
    attempt: int
    reason: str


@dataclass(frozen=True)
class CancelRequested:
    requested_by: str
    reason: str | None = None


@dataclass(frozen=True)
class ExecutionSucceeded:
    pass


@dataclass(frozen=True)
class ExecutionFailed:
    failed_jobs: tuple[str, ...]


@dataclass(frozen=True)
class ExecutionCancelled:
    pass


Payload = (
    ExecutionSubmitted | ExecutionRejected | JobQueued | JobDispatched | JobStarted | JobSucceeded | JobFailed
    | JobRetryScheduled | JobTimedOut | JobLost | JobSkipped | JobCancelled | CancelRequested | ExecutionSucceeded
    | ExecutionFailed | ExecutionCancelled
)

# the events that end an execution: exactly one of them per execution
ENDING_EVENTS = (ExecutionSucceeded, ExecutionFailed, ExecutionCancelled, ExecutionRejected)

PAYLOAD_TYPES: Mapping[str, type] = {
    cls.__name__: cls
    for cls in (
        ExecutionSubmitted, ExecutionRejected, JobQueued, JobDispatched, JobStarted, JobSucceeded, JobFailed,
        JobRetryScheduled, JobTimedOut, JobLost, JobSkipped, JobCancelled, CancelRequested, ExecutionSucceeded,
        ExecutionFailed, ExecutionCancelled,
    )
}

# what only the engine decides; any other producer may write submissions, cancel requests and worker reports
DECIDED_BY_ENGINE = (ExecutionRejected, JobQueued, JobDispatched, JobRetryScheduled, JobTimedOut, JobLost, JobSkipped,
                     JobCancelled, ExecutionSucceeded, ExecutionFailed, ExecutionCancelled)

PRODUCERS = ("api", "engine", "worker", "scheduler", "external")


@dataclass(frozen=True)
class Event:
    """The envelope: one record of the executions topic."""

    event_id: str
    execution_id: str
    occurred_at: int  # UTC milliseconds
    producer: str
    payload: Payload
    causation_id: str | None = None
    correlation_id: str | None = None

    @property
    def type(self) -> str:
        return type(self.payload).__name__
