"""A schedule driven on a simulated clock the way the processor drives it, for the core's tests."""

from __future__ import annotations

import datetime as dt
import uuid

from engine.domain.schedule import events as se
from engine.domain.schedule.commands import ScheduleCommand, StartExecution
from engine.domain.schedule.process import (
    backfill_tick_event,
    next_backfill_due,
    next_due,
    next_wait_expiry,
    process,
    tick_event,
    wait_expired_event,
)
from engine.domain.schedule.spec import ScheduleSpec
from engine.domain.schedule.state import ScheduleState

MIN = 60_000
T0 = round(dt.datetime(2027, 1, 4, 9, 0, 30, tzinfo=dt.UTC).timestamp() * 1000)  # half a minute past 09:00


def at_minute(n: int) -> int:
    return T0 - 30_000 + n * MIN  # n minutes after 09:00


class Sim:
    """A schedule driven the way the processor drives it: ticks written when due and read back."""

    def __init__(self, spec: ScheduleSpec, created_at: int = T0, name: str | None = None) -> None:
        self.name = name  # a golden history's name: its inputs get ids from it, so recording it twice is equal
        self.inputs = 0
        self.state: ScheduleState | None = None
        self.log: list[se.ScheduleEvent] = []
        self.commands: list[ScheduleCommand] = []
        self.clock = created_at
        self.put(se.ScheduleCreated(spec, "tests"), created_at)

    def put(self, payload: se.Payload, at: int, producer: str = "api") -> None:
        self.inputs += 1
        event_id = f"golden-{self.name}-in-{self.inputs}" if self.name else str(uuid.uuid4())
        self.read(se.ScheduleEvent(event_id, "nightly", at, producer, payload))

    def read(self, event: se.ScheduleEvent) -> None:
        self.clock = max(self.clock, event.occurred_at)
        step = process(self.state, event, event.occurred_at)
        self.log.append(event)
        self.log += step.events
        self.commands += step.commands
        self.state = step.state

    def run_until(self, now: int) -> None:
        """A processor that was up all along: each tick (and backfill tick) is written when it is due."""
        while True:
            due, backfill = next_due(self.state), next_backfill_due(self.state)
            expiry = next_wait_expiry(self.state)
            if expiry is not None and expiry[1] <= now and (due is None or expiry[1] <= due[1]):
                event = wait_expired_event(self.state, expiry[0], expiry[1])
            elif backfill is not None and backfill[2] <= now and (due is None or backfill[2] <= due[1]):
                event = backfill_tick_event(self.state, backfill[0], backfill[1], max(backfill[2], self.clock))
            elif due is not None and due[1] <= now:
                event = tick_event(self.state, due[0], due[1])
            else:
                return
            assert event is not None
            self.read(event)

    def end(self, execution_id: str, at: int, status: str = "SUCCEEDED") -> None:
        run = next(r for r in self.state.running if r.execution_id == execution_id)
        self.put(se.ScheduleRunEnded(execution_id, run.logical_time, status), at, "engine")

    def met(self, tick: int, name: str, offset: int, at: int) -> None:
        """The engine found a record for dependency ``name`` of the tick waiting at ``tick``."""
        self.put(se.ScheduleDependencyMet(tick, se.DependencyMatch(name, "events", 0, offset)), at, "engine")

    def of(self, kind: type) -> list:
        return [e.payload for e in self.log if isinstance(e.payload, kind)]

    def started(self) -> list[StartExecution]:
        return [c for c in self.commands if isinstance(c, StartExecution)]
