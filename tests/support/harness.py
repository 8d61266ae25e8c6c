"""Drives the pure engine the way the processor does: feed events, collect commands, fire due timers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.domain import events as ev
from engine.domain.commands import Command, DispatchJob, KillJob
from engine.domain.evolve import fold
from engine.domain.loader import load_flow
from engine.domain.process import Step, process, timer_event
from engine.domain.spec import FlowSpec
from engine.domain.state import ExecutionState, JobState
from engine.domain.timers import Timer, TimerKind, timers

T0 = 1_700_000_000_000


class Harness:
    def __init__(self, flow: str | FlowSpec, execution_id: str = "ex-1", now: int = T0) -> None:
        self.spec = load_flow(flow) if isinstance(flow, str) else flow
        self.execution_id = execution_id
        self.now = now
        self.state: ExecutionState | None = None
        self.log: list[ev.Event] = []
        self.commands: list[Command] = []
        self._seq = 0
        self.renewed: dict[tuple[str, int], int] = {}  # (job, attempt) -> last heartbeat, as the processor keeps it

    # -- feeding ------------------------------------------------------------------------------------------------

    def feed(self, payload: ev.Payload, producer: str = "worker", event_id: str | None = None) -> Step:
        self._seq += 1
        event = ev.Event(event_id or f"{self.execution_id}-in-{self._seq}", self.execution_id, self.now, producer,
                         payload)
        return self.feed_event(event)

    def feed_event(self, event: ev.Event) -> Step:
        step = process(self.state, event, self.now)
        if step.changed:
            self.log += [event, *step.events]
            self.commands += step.commands
        self.state = step.state
        return step

    def submit(self, params: dict[str, str] | None = None, **overrides: Any) -> Step:
        fields: dict[str, Any] = {
            "flow_name": self.spec.name, "definition_hash": self.spec.version_hash(), "definition": self.spec,
            "params": params or {}, "submitter": "tester",
        }
        fields.update(overrides)
        return self.feed(ev.ExecutionSubmitted(**fields), producer="api")

    # -- worker side --------------------------------------------------------------------------------------------

    def dispatched(self) -> list[DispatchJob]:
        return [c for c in self.commands if isinstance(c, DispatchJob)]

    def kills(self) -> list[KillJob]:
        return [c for c in self.commands if isinstance(c, KillJob)]

    def attempt(self, job: str) -> int:
        return self.job(job).attempt

    def start(self, job: str, worker: str = "w1", attempt: int | None = None) -> Step:
        return self.feed(ev.JobStarted(job, attempt or self.attempt(job), worker))

    def succeed(self, job: str, outputs: dict[str, str] | None = None, attempt: int | None = None) -> Step:
        return self.feed(ev.JobSucceeded(job, attempt or self.attempt(job), 0, outputs or {}))

    def fail(self, job: str, error: str = "exit 1", attempt: int | None = None) -> Step:
        return self.feed(ev.JobFailed(job, attempt or self.attempt(job), 1, error))

    def run(self, job: str, ok: bool = True, outputs: dict[str, str] | None = None) -> None:
        self.start(job)
        if ok:
            self.succeed(job, outputs)
        else:
            self.fail(job)

    def heartbeat(self, job: str) -> None:
        """A worker heartbeat: renews the lease in the processor's index, never enters the execution state."""
        self.renewed[(job, self.attempt(job))] = self.now

    # -- time ---------------------------------------------------------------------------------------------------

    def advance(self, ms: int) -> list[ev.Event]:
        """Move the clock and fire every timer that is due, as the processor's deadline index would."""
        self.now += ms
        fired = []
        while self.state is not None:
            due = sorted((t for t in map(self._renewed, timers(self.state)) if t.due_at <= self.now),
                         key=lambda t: t.due_at)
            if not due:
                break
            event = timer_event(self.state, due[0], self.now)
            if event is None:
                break
            fired.append(event)
            self.feed_event(event)
        return fired

    def _renewed(self, timer: Timer) -> Timer:
        beat = self.renewed.get((timer.job, timer.attempt))
        if timer.kind is not TimerKind.LEASE or beat is None:
            return timer
        lease_ms = self.spec.by_name[timer.job].lease_ms
        return replace(timer, due_at=max(timer.due_at, beat + lease_ms))

    # -- reading ------------------------------------------------------------------------------------------------

    def job(self, name: str) -> JobState:
        assert self.state is not None
        return self.state.jobs[name]

    def statuses(self) -> dict[str, str]:
        assert self.state is not None
        return {name: job.status.value for name, job in self.state.jobs.items()}

    def types(self) -> list[str]:
        return [event.type for event in self.log]

    def folded(self) -> ExecutionState | None:
        return fold(self.log)
