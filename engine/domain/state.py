"""Per-execution state, rebuilt by folding events with ``evolve``. Immutable: every change is a new value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from engine.domain.frozen import changed
from engine.domain.spec import FailurePolicy, FlowSpec


class ExecutionStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class JobStatus(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    DISPATCHED = "DISPATCHED"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"


EXECUTION_TERMINAL = frozenset({ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED,
                                ExecutionStatus.REJECTED})
# FAILED is final once react has not scheduled a retry (a retry moves the job to RETRY_WAIT in the same step).
JOB_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED})
JOB_ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.DISPATCHED, JobStatus.RUNNING})


@dataclass(frozen=True)
class JobState:
    status: JobStatus = JobStatus.PENDING
    attempt: int = 0  # current attempt (fencing epoch); 0 until first queued
    lost_attempts: int = 0  # attempts ended by an expired lease; retried apart from max_attempts
    worker_id: str | None = None
    started_at: int | None = None
    ended_at: int | None = None
    not_before: int | None = None
    exit_code: int | None = None
    error: str | None = None
    reason: str | None = None  # why skipped or cancelled
    outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionState:
    execution_id: str
    status: ExecutionStatus
    flow: FlowSpec
    definition_hash: str
    params: Mapping[str, str]  # effective: declared defaults overlaid with submitted values
    submitted_params: Mapping[str, str]
    submitter: str
    submitted_event_id: str
    submitted_at: int
    jobs: Mapping[str, JobState]
    idempotency_key: str | None = None
    project: str | None = None
    archive: str | None = None  # sha256 of the project archive the execution pinned at submission
    schedule_id: str | None = None
    logical_time: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    errors: tuple[str, ...] = ()
    cancel_requested_by: str | None = None
    unfinished: int = 0  # jobs not in JOB_FINAL, kept so "all ended?" costs nothing per event
    failed: frozenset[str] = frozenset()  # jobs FAILED for good (or awaiting the retry decision)

    @property
    def terminal(self) -> bool:
        return self.status in EXECUTION_TERMINAL

    @property
    def cancelling(self) -> bool:
        return self.cancel_requested_by is not None

    @property
    def unhandled_failures(self) -> frozenset[str]:
        """Failed jobs whose failure no conditional branch handles: these stop and fail the flow."""
        return self.failed - self.flow.failure_handled

    def stop_mode(self, ignoring: str | None = None) -> str | None:
        """None (run on), 'drain' (start nothing new) or 'kill' (also kill what runs).

        ``ignoring`` leaves one job's failure out: the job whose retry is being decided.
        """
        if self.cancelling:
            return "kill"
        failed = self.unhandled_failures - {ignoring} if ignoring else self.unhandled_failures
        if not failed or self.flow.failure_policy is FailurePolicy.FINISH_ALL_POSSIBLE:
            return None
        return "kill" if self.flow.failure_policy is FailurePolicy.CANCEL_ALL else "drain"

    def with_job(self, name: str, job: JobState) -> ExecutionState:
        before = self.jobs[name]
        unfinished = self.unfinished + (job.status not in JOB_FINAL) - (before.status not in JOB_FINAL)
        failed = self.failed
        if job.status is JobStatus.FAILED:
            failed = failed | {name}
        elif name in failed:
            failed = failed - {name}
        return changed(self, jobs={**self.jobs, name: job}, unfinished=unfinished, failed=failed)
