"""A schedule's state: its spec, whether it is paused or deleted, how far its ticks are decided, and its runs."""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.cadence import next_fire, parse
from engine.domain.ids import unit_interval
from engine.domain.schedule.events import DependencyMatch
from engine.domain.schedule.spec import ScheduleSpec


@dataclass(frozen=True)
class Run:
    execution_id: str
    logical_time: int
    idempotency_key: str


BACKFILL_OVERLAPS = ("wait", "skip", "allow_all")


@dataclass(frozen=True)
class Wait:
    """A tick waiting for its dependencies."""

    logical_time: int
    until: int
    matched: tuple[DependencyMatch, ...] = ()
    expired: bool = False

    def unmet(self, spec: ScheduleSpec) -> list[str]:
        got = {m.name for m in self.matched}
        return [d.name for d in spec.dependencies if d.name not in got]


@dataclass(frozen=True)
class Backfill:
    backfill_id: str
    start: int
    end: int
    overlap: str  # wait (for the running execution to end), skip, allow_all
    max_per_minute: int  # 0: no limit
    requested_by: str
    cursor: int  # ticks up to here are decided
    ticks: int = 0  # ticks decided so far
    last_at: int | None = None  # when its last tick was written (the pace counts from there)


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
    backfills: tuple[Backfill, ...] = ()  # requested and not ended, run one at a time in order
    waiting: tuple[Wait, ...] = ()  # ticks waiting for their dependencies

    def wait_for(self, tick: int) -> Wait | None:
        return next((w for w in self.waiting if w.logical_time == tick), None)

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

    def next_backfill_tick(self) -> tuple[Backfill, int | None] | None:
        """The running backfill and its next tick (None: it has none left), or None when there is no backfill or
        it waits for an execution to end."""
        if not self.backfills or not self.live:
            return None
        backfill = self.backfills[0]
        if backfill.overlap == "wait" and self.running:
            return None
        tick = next_fire(parse(self.spec.cadence), self.spec.timezone, backfill.cursor, self.anchor_for(backfill))
        return backfill, (tick if tick is not None and tick <= backfill.end else None)

    def anchor_for(self, backfill: Backfill) -> int:
        """Where a backfill's interval ticks count from: the schedule's own grid, extended back before its anchor
        when the range starts earlier (cron ticks do not depend on it)."""
        cadence = parse(self.spec.cadence)
        if cadence.kind != "interval" or self.anchor <= backfill.start:
            return min(self.anchor, backfill.start)
        steps = -(-(self.anchor - backfill.start) // cadence.interval_ms)
        return self.anchor - steps * cadence.interval_ms

    def due_at(self, tick: int) -> int:
        """When ``tick`` is written: its time plus this tick's fixed share of the jitter."""
        if not self.spec.jitter_ms:
            return tick
        return tick + int(unit_interval(f"jitter/{self.schedule_id}/{tick}") * self.spec.jitter_ms)
