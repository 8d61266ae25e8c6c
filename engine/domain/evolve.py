"""evolve(state, event) -> state: applies one event, decides nothing.

Every branch is guarded so that applying an event twice, or a report of an attempt that is not the current one,
returns the very same state object (``is``), which is how the processor tells a no-op from a change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.domain import events as ev
from engine.domain.frozen import changed
from engine.domain.state import (
    JOB_ACTIVE,
    JOB_FINAL,
    ExecutionState,
    ExecutionStatus,
    JobState,
    JobStatus,
)


class MissingApplier(TypeError):
    """An event type has no evolve branch: a bug, never silently ignored."""


State = ExecutionState | None
Applier = Callable[[ExecutionState, ev.Event, Any], ExecutionState]


def evolve(state: State, event: ev.Event) -> State:
    payload = event.payload
    applier = APPLIERS.get(type(payload))
    if applier is None:
        raise MissingApplier(f"no evolve branch for {type(payload).__name__}")
    if isinstance(payload, ev.ExecutionSubmitted):
        return state if state is not None else _submitted(event, payload)
    if state is None:
        return None  # an event of an execution never submitted changes nothing
    return applier(state, event, payload)


def fold(events: list[ev.Event], state: State = None) -> State:
    for event in events:
        state = evolve(state, event)
    return state


def _submitted(event: ev.Event, p: ev.ExecutionSubmitted) -> ExecutionState:
    spec = p.definition
    defaults = {name: value for name, value in spec.params.items() if value is not None}
    jobs = {job.name: JobState() for job in spec.jobs}
    return ExecutionState(
        execution_id=event.execution_id,
        status=ExecutionStatus.SUBMITTED,
        flow=spec,
        definition_hash=p.definition_hash,
        params={**defaults, **p.params},
        submitted_params=dict(p.params),
        submitter=p.submitter,
        submitted_event_id=event.event_id,
        submitted_at=event.occurred_at,
        jobs=jobs,
        idempotency_key=p.idempotency_key,
        project=p.project,
        archive=p.archive,
        schedule_id=p.schedule_id,
        logical_time=p.logical_time,
        unfinished=len(jobs),
    )


def _job(state: ExecutionState, name: str) -> JobState | None:
    return state.jobs.get(name)


def _rejected(state: ExecutionState, event: ev.Event, p: ev.ExecutionRejected) -> ExecutionState:
    if state.status is not ExecutionStatus.SUBMITTED:
        return state
    return changed(state, status=ExecutionStatus.REJECTED, errors=tuple(p.errors), ended_at=event.occurred_at)


def _queued(state: ExecutionState, event: ev.Event, p: ev.JobQueued) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or state.terminal:
        return state
    first = job.status is JobStatus.PENDING and job.attempt == 0 and p.attempt == 1
    retry = job.status is JobStatus.RETRY_WAIT and job.attempt == p.attempt
    if not (first or retry):
        return state
    new = state.with_job(p.job, changed(job, status=JobStatus.QUEUED, attempt=p.attempt, not_before=None))
    if new.status is ExecutionStatus.SUBMITTED:
        new = changed(new, status=ExecutionStatus.RUNNING, started_at=event.occurred_at)
    return new


def _dispatched(state: ExecutionState, event: ev.Event, p: ev.JobDispatched) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status is not JobStatus.QUEUED or job.attempt != p.attempt:
        return state
    return state.with_job(p.job, changed(job, status=JobStatus.DISPATCHED))


def _started(state: ExecutionState, event: ev.Event, p: ev.JobStarted) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.attempt != p.attempt or job.status not in (JobStatus.QUEUED, JobStatus.DISPATCHED):
        return state
    return state.with_job(p.job, changed(job, status=JobStatus.RUNNING, worker_id=p.worker_id,
                                         started_at=event.occurred_at))


def _ended(state: ExecutionState, name: str, attempt: int, **changes: Any) -> ExecutionState:
    job = _job(state, name)
    if job is None or job.attempt != attempt or job.status not in JOB_ACTIVE:
        return state
    return state.with_job(name, changed(job, **changes))


def _claimed_by_another(state: ExecutionState, name: str, worker_id: str | None) -> bool:
    """A worker's result for an attempt whose first JobStarted came from another worker: the claim fences it.
    (A result without a worker id, from a v1 producer, is fenced by the attempt alone.)"""
    job = _job(state, name)
    return job is not None and worker_id is not None and job.worker_id is not None and job.worker_id != worker_id


def _succeeded(state: ExecutionState, event: ev.Event, p: ev.JobSucceeded) -> ExecutionState:
    if _claimed_by_another(state, p.job, p.worker_id):
        return state
    return _ended(state, p.job, p.attempt, status=JobStatus.SUCCEEDED, exit_code=p.exit_code,
                  outputs=dict(p.outputs), ended_at=event.occurred_at, error=None)


def _failed(state: ExecutionState, event: ev.Event, p: ev.JobFailed) -> ExecutionState:
    if _claimed_by_another(state, p.job, p.worker_id):
        return state
    return _ended(state, p.job, p.attempt, status=JobStatus.FAILED, exit_code=p.exit_code, error=p.error,
                  ended_at=event.occurred_at)


def _timed_out(state: ExecutionState, event: ev.Event, p: ev.JobTimedOut) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status is not JobStatus.RUNNING:
        return state
    limit = state.flow.by_name[p.job].timeout_ms
    return _ended(state, p.job, p.attempt, status=JobStatus.FAILED, exit_code=None,
                  error=f"timed out after {limit} ms", ended_at=event.occurred_at)


def _lost(state: ExecutionState, event: ev.Event, p: ev.JobLost) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status is not JobStatus.RUNNING:
        return state
    return _ended(state, p.job, p.attempt, status=JobStatus.FAILED, exit_code=None,
                  error=f"lease expired: worker {job.worker_id} stopped sending heartbeats",
                  ended_at=event.occurred_at, lost_attempts=job.lost_attempts + 1)


def _retry_scheduled(state: ExecutionState, event: ev.Event, p: ev.JobRetryScheduled) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status is not JobStatus.FAILED or job.attempt != p.attempt - 1 or state.terminal:
        return state
    return state.with_job(p.job, changed(job, status=JobStatus.RETRY_WAIT, attempt=p.attempt,
                                         not_before=p.not_before, worker_id=None, started_at=None))


def _skipped(state: ExecutionState, event: ev.Event, p: ev.JobSkipped) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status is not JobStatus.PENDING:
        return state
    return state.with_job(p.job, changed(job, status=JobStatus.SKIPPED, reason=p.reason, ended_at=event.occurred_at))


def _cancelled(state: ExecutionState, event: ev.Event, p: ev.JobCancelled) -> ExecutionState:
    job = _job(state, p.job)
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.SKIPPED, JobStatus.CANCELLED):
        return state
    if job.attempt != p.attempt:
        return state
    return state.with_job(p.job, changed(job, status=JobStatus.CANCELLED, reason=p.reason,
                                         ended_at=job.ended_at or event.occurred_at))


def _cancel_requested(state: ExecutionState, event: ev.Event, p: ev.CancelRequested) -> ExecutionState:
    if state.terminal or state.cancelling:
        return state
    return changed(state, cancel_requested_by=p.requested_by)


def _finished(status: ExecutionStatus) -> Applier:
    def apply(state: ExecutionState, event: ev.Event, p: Any) -> ExecutionState:
        if state.terminal or state.unfinished:
            return state
        return changed(state, status=status, ended_at=event.occurred_at)

    return apply


APPLIERS: Mapping[type, Applier] = {
    ev.ExecutionSubmitted: lambda state, event, p: state,  # handled before dispatch: it creates the state
    ev.ExecutionRejected: _rejected,
    ev.JobQueued: _queued,
    ev.JobDispatched: _dispatched,
    ev.JobStarted: _started,
    ev.JobSucceeded: _succeeded,
    ev.JobFailed: _failed,
    ev.JobRetryScheduled: _retry_scheduled,
    ev.JobTimedOut: _timed_out,
    ev.JobLost: _lost,
    ev.JobSkipped: _skipped,
    ev.JobCancelled: _cancelled,
    ev.CancelRequested: _cancel_requested,
    ev.ExecutionSucceeded: _finished(ExecutionStatus.SUCCEEDED),
    ev.ExecutionFailed: _finished(ExecutionStatus.FAILED),
    ev.ExecutionCancelled: _finished(ExecutionStatus.CANCELLED),
}

__all__ = ["APPLIERS", "JOB_FINAL", "MissingApplier", "evolve", "fold"]
