"""The processor's in-memory part for schedules, free of Kafka: per-schedule state and the index of next ticks.

The same rule as for executions: an event the engine derived (it carries a causation id) was decided and applied
when it was written, so reading it back only folds it; every other record (API changes, ticks, run ends) goes
through ``process``, at the record's time. A tick is written once when due; reading it back decides, and arms the
next one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from engine.domain.schedule import events as se
from engine.domain.schedule.commands import ScheduleCommand
from engine.domain.schedule.evolve import evolve
from engine.domain.schedule.process import (
    backfill_tick_event,
    next_backfill_due,
    next_due,
    next_wait_expiry,
    process,
    tick_event,
    wait_expired_event,
)
from engine.domain.schedule.state import ScheduleState

Armed = int | tuple[str, int]  # a tick's logical time; a backfill's (id, logical time); a wait's ("", time)
KINDS = ("tick", "backfill", "wait")


def _kind(armed: Armed) -> str:
    if isinstance(armed, tuple):
        return "wait" if armed[0] == "" else "backfill"
    return "tick"


@dataclass
class ScheduleOutput:
    events: list[se.ScheduleEvent] = field(default_factory=list)
    commands: list[ScheduleCommand] = field(default_factory=list)
    unknown_schedule: bool = False


class ScheduleCore:
    def __init__(self) -> None:
        self.states: dict[str, ScheduleState] = {}
        self.partition_of: dict[str, int] = {}
        # (due at, seq, schedule id, what): what is a logical time (a tick) or (backfill id, logical time)
        self._heap: list[tuple[int, int, str, Armed]] = []
        self._armed: dict[tuple[str, str], Armed] = {}  # (schedule id, kind) -> its next tick
        self._written: dict[tuple[str, str], Armed] = {}  # (schedule id, kind) -> written, not yet read back
        self._seq = 0

    def fold_only(self, event: se.ScheduleEvent, partition: int) -> None:
        before = self.states.get(event.schedule_id)
        after = evolve(before, event)
        if after is not None and after is not before:
            self.states[event.schedule_id] = after
            self.partition_of[event.schedule_id] = partition

    def handle(self, event: se.ScheduleEvent, partition: int) -> ScheduleOutput:
        if event.producer == "engine" and event.causation_id is not None:
            self.fold_only(event, partition)
            self._arm(event.schedule_id)
            return ScheduleOutput()
        payload = event.payload
        read_back: Armed | None = None
        if isinstance(payload, se.ScheduleTick):
            read_back = payload.logical_time
        elif isinstance(payload, se.ScheduleBackfillTick):
            read_back = (payload.backfill_id, payload.logical_time)
        elif isinstance(payload, se.ScheduleWaitExpired):
            read_back = ("", payload.logical_time)
        if read_back is not None and self._written.get((event.schedule_id, _kind(read_back))) == read_back:
            del self._written[(event.schedule_id, _kind(read_back))]  # decided now, or found stale (paused, say)
        state = self.states.get(event.schedule_id)
        if state is None and not isinstance(event.payload, se.ScheduleCreated):
            return ScheduleOutput(unknown_schedule=True)
        # decided at the record's own time, not at the moment it is read: reading the same record again (after a
        # crash, before its offset was committed) then decides the same thing, and the ids that the decisions get
        # from the record name the same decisions (a tick read late after a restart would otherwise be skipped
        # under the id its first reading had given to a firing)
        step = process(state, event, event.occurred_at)
        if not step.changed or step.state is None:
            return ScheduleOutput()
        self.states[event.schedule_id] = step.state
        self.partition_of[event.schedule_id] = partition
        self._arm(event.schedule_id)
        return ScheduleOutput(events=step.events, commands=step.commands)

    def _arm(self, schedule_id: str) -> None:
        state = self.states.get(schedule_id)
        due, backfill, expiry = next_due(state), next_backfill_due(state), next_wait_expiry(state)
        timers: list[tuple[str, tuple[Armed, int] | None]] = [
            ("tick", (due[0], due[1]) if due else None),
            ("backfill", ((backfill[0], backfill[1]), backfill[2]) if backfill else None),
            ("wait", (("", expiry[0]), expiry[1]) if expiry else None)]
        for kind, found in timers:
            if found is None:
                self._armed.pop((schedule_id, kind), None)
                continue
            armed, at = found
            # pushed again even when already armed: the entry may have been taken and its tick found stale (a
            # pause came first); due() takes each tick once
            self._armed[(schedule_id, kind)] = armed
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, schedule_id, armed))

    def waits(self) -> list[tuple[str, int, list[str]]]:
        """(schedule id, tick, unmet dependency names) of every open wait this instance owns: what to watch."""
        out = []
        for schedule_id, state in self.states.items():
            for wait in state.waiting:
                if not wait.expired and (unmet := wait.unmet(state.spec)):
                    out.append((schedule_id, wait.logical_time, unmet))
        return out

    def unread_ticks(self) -> int:
        """How many ticks this instance wrote are waiting to be read back and decided."""
        return len(self._written)

    def next_wakeup(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: int) -> list[se.ScheduleEvent]:
        """Ticks to write now; each is written once (reading it back decides it and arms the next)."""
        out: list[se.ScheduleEvent] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, schedule_id, armed = heapq.heappop(self._heap)
            key = (schedule_id, _kind(armed))
            if self._armed.get(key) != armed or self._written.get(key) == armed:
                continue
            state = self.states.get(schedule_id)
            if isinstance(armed, int):
                event = tick_event(state, armed, now)
            elif armed[0] == "":
                event = wait_expired_event(state, armed[1], now)
            else:
                event = backfill_tick_event(state, armed[0], armed[1], now)
            if event is None:
                continue
            self._written[key] = armed
            out.append(event)
        return out

    def adopt(self, rebuilt: ScheduleCore, partitions: set[int]) -> None:
        for schedule_id, partition in rebuilt.partition_of.items():
            if partition in partitions:
                self.states[schedule_id] = rebuilt.states[schedule_id]
                self.partition_of[schedule_id] = partition
                for kind in KINDS:
                    self._armed.pop((schedule_id, kind), None)
                self._arm(schedule_id)

    def drop_partitions(self, partitions: set[int]) -> None:
        gone = {sid for sid, p in self.partition_of.items() if p in partitions}
        for schedule_id in gone:
            self.states.pop(schedule_id, None)
            self.partition_of.pop(schedule_id, None)
            for kind in KINDS:
                self._armed.pop((schedule_id, kind), None)
                self._written.pop((schedule_id, kind), None)
        self._heap = [item for item in self._heap if item[2] not in gone]
        heapq.heapify(self._heap)
