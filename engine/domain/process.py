"""One processing step of an execution: the core's loop (``engine.domain.cascade``) with the execution's evolve and
react. Live processing and replay share this path: the derived events are applied with the same ``evolve`` the
moment they are decided."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain import events as ev
from engine.domain.cascade import cascade
from engine.domain.commands import Command, DispatchJob, KillJob
from engine.domain.evolve import State, evolve
from engine.domain.ids import derived_event_id
from engine.domain.react import dispatch_command, react
from engine.domain.state import JobStatus
from engine.domain.timers import Timer, fire


@dataclass(frozen=True)
class Step:
    state: State
    changed: bool  # False: the incoming event was a duplicate, stale or for an unknown execution
    events: list[ev.Event] = field(default_factory=list)  # derived events, in the order they were applied
    commands: list[Command] = field(default_factory=list)


def process(state: State, event: ev.Event, now: int) -> Step:
    done = cascade(state, event, now, evolve, react, _derive)
    if not done.changed:
        return Step(state, changed=False, commands=_kill_unwanted_start(state, event))
    return Step(done.state, changed=True, events=done.events, commands=done.commands)


def _derive(cause: ev.Event, index: int, payload: ev.Payload, now: int) -> ev.Event:
    return ev.Event(event_id=derived_event_id(cause.event_id, index), execution_id=cause.execution_id,
                    occurred_at=now, producer="engine", payload=payload, causation_id=cause.event_id,
                    correlation_id=cause.correlation_id)


def _kill_unwanted_start(state: State, event: ev.Event) -> list[Command]:
    """A worker started an attempt the engine no longer wants (cancelled, or superseded): stop it."""
    payload = event.payload
    if state is None or not isinstance(payload, ev.JobStarted) or payload.job not in state.jobs:
        return []
    job = state.jobs[payload.job]
    if payload.attempt > job.attempt:
        return []
    if job.attempt == payload.attempt and job.status is JobStatus.RUNNING:
        if job.worker_id in (None, payload.worker_id):
            return []  # the claim's own start, read again
        # a second copy of a claimed attempt (a dispatch delivered again): only that worker stops its copy
        return [KillJob(state.execution_id, payload.job, payload.attempt,
                        f"attempt {payload.attempt} is claimed by worker {job.worker_id}", payload.worker_id)]
    return [KillJob(state.execution_id, payload.job, payload.attempt, "this attempt is no longer wanted",
                    payload.worker_id)]


def ended_reply(event: ev.Event) -> list[Command]:
    """The answer to an event about an execution that ended and whose state is no longer held, only its id: it
    changes nothing (a repeated submission included); a worker that starts one of its attempts is told to stop."""
    payload = event.payload
    if isinstance(payload, ev.JobStarted):
        return [KillJob(event.execution_id, payload.job, payload.attempt, "this execution has ended",
                        payload.worker_id)]
    return []


def timer_event(state: State, timer: Timer, now: int) -> ev.Event | None:
    """The event to log when ``timer`` is due, or None if it no longer applies."""
    if state is None:
        return None
    payload = fire(state, timer)
    if payload is None:
        return None
    return ev.Event(event_id=timer.event_id, execution_id=timer.execution_id, occurred_at=now, producer="engine",
                    payload=payload)


def recovery_commands(state: State) -> list[Command]:
    """Commands to send again after a restart: a command may have been lost between its event and the crash.

    Workers drop a dispatch they already hold, and the engine takes one result per attempt, so resending is safe.
    """
    if state is None or state.terminal:
        return []
    out: list[Command] = []
    kill = state.stop_mode() == "kill"
    for name, job in state.jobs.items():
        if job.status is JobStatus.DISPATCHED and not kill:
            out.append(dispatch_command(state, name))
        elif job.status in (JobStatus.DISPATCHED, JobStatus.RUNNING) and kill:
            out.append(KillJob(state.execution_id, name, job.attempt, "execution is stopping"))
    return out


__all__ = ["DispatchJob", "KillJob", "Step", "ended_reply", "process", "recovery_commands", "timer_event"]
