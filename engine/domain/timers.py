"""Deadlines of an execution, read off its state; firing one yields the event it calls for (or nothing).

The processor keeps these in an in-memory index; a lease deadline there is pushed back by heartbeats, which
never enter the execution state. Firing is idempotent: each event gets an id from ids.timer_event_id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.domain import events as ev
from engine.domain.ids import timer_event_id
from engine.domain.state import ExecutionState, JobStatus


class TimerKind(StrEnum):
    RETRY = "retry"
    TIMEOUT = "timeout"
    LEASE = "lease"


@dataclass(frozen=True)
class Timer:
    execution_id: str
    job: str
    attempt: int
    kind: TimerKind
    due_at: int  # UTC ms

    @property
    def event_id(self) -> str:
        return timer_event_id(self.execution_id, self.job, self.attempt, self.kind.value)


def job_timers(state: ExecutionState, name: str) -> list[Timer]:
    job = state.jobs[name]
    spec = state.flow.by_name[name]
    if state.terminal:
        return []
    if job.status is JobStatus.RETRY_WAIT and job.not_before is not None:
        return [Timer(state.execution_id, name, job.attempt, TimerKind.RETRY, job.not_before)]
    if job.status is JobStatus.RUNNING and job.started_at is not None:
        out = [Timer(state.execution_id, name, job.attempt, TimerKind.LEASE, job.started_at + spec.lease_ms)]
        if spec.timeout_ms is not None:
            due = job.started_at + spec.timeout_ms
            out.append(Timer(state.execution_id, name, job.attempt, TimerKind.TIMEOUT, due))
        return out
    return []


def timers(state: ExecutionState) -> list[Timer]:
    return [timer for name in state.jobs for timer in job_timers(state, name)]


def fire(state: ExecutionState, timer: Timer) -> ev.Payload | None:
    """The event a due timer calls for, or None when the job has moved on since the timer was set."""
    job = state.jobs.get(timer.job)
    if job is None or job.attempt != timer.attempt or state.terminal:
        return None
    if timer.kind is TimerKind.RETRY and job.status is JobStatus.RETRY_WAIT:
        return ev.JobQueued(timer.job, timer.attempt)
    if timer.kind is TimerKind.TIMEOUT and job.status is JobStatus.RUNNING:
        return ev.JobTimedOut(timer.job, timer.attempt)
    if timer.kind is TimerKind.LEASE and job.status is JobStatus.RUNNING:
        return ev.JobLost(timer.job, timer.attempt)
    return None
