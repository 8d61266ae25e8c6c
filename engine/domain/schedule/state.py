"""A schedule's state: its spec, whether it is paused or deleted, how far its ticks are decided, and its runs."""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.cadence import next_fire, parse
from engine.domain.ids import unit_interval
from engine.domain.schedule.spec import ScheduleSpec


@dataclass(frozen=True)
class Run:
    execution_id: str
    logical_time: int
    idempotency_key: str


@dataclass(frozen=True)
class ScheduleState:
    schedule_id: str
    spec: ScheduleSpec
    created_at: int  # UTC ms; an interval without a start counts from here
    created_by: str
    cursor: int  # every tick up to this logical time is decided (or being decided, see ``due``)
    paused: bool = False
    deleted: bool = False
    due: tuple[int, ...] = ()  # ticks (and manual triggers) read and not yet decided
    buffered: tuple[int, ...] = ()  # ticks waiting for the running execution to end
    running: tuple[Run, ...] = ()  # executions started and not known to have ended
    seen: frozenset[str] = frozenset()  # ids of the control events applied (updates, pauses, resumes, triggers)
    fired: int = 0
    skipped: int = 0
    last_fired: Run | None = None
    last_status: str | None = None  # how the last execution to end ended
    updated_at: int = 0

    @property
    def anchor(self) -> int:
        return self.spec.start_at if self.spec.start_at is not None else self.created_at

    @property
    def live(self) -> bool:
        return not self.deleted and not self.paused

    def next_tick(self) -> int | None:
        """The logical time of the next tick to decide, or None when no more will come."""
        after = max(self.cursor, self.anchor - 1)
        tick = next_fire(parse(self.spec.cadence), self.spec.timezone, after, self.anchor)
        if tick is None or (self.spec.end_at is not None and tick > self.spec.end_at):
            return None
        return tick

    def due_at(self, tick: int) -> int:
        """When ``tick`` is written: its time plus this tick's fixed share of the jitter."""
        if not self.spec.jitter_ms:
            return tick
        return tick + int(unit_interval(f"jitter/{self.schedule_id}/{tick}") * self.spec.jitter_ms)
