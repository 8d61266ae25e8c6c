"""Events of the schedules topic: one frozen dataclass per record of schemas/schedules.v*.avsc (class names are
the Avro record names). ``ScheduleCreated`` and ``ScheduleUpdated`` carry the whole spec, flattened on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.domain.schedule.spec import ScheduleSpec


@dataclass(frozen=True)
class ScheduleCreated:
    spec: ScheduleSpec
    created_by: str


@dataclass(frozen=True)
class ScheduleUpdated:
    spec: ScheduleSpec
    updated_by: str


@dataclass(frozen=True)
class SchedulePaused:
    paused_by: str
    note: str | None = None


@dataclass(frozen=True)
class ScheduleResumed:
    resumed_by: str


@dataclass(frozen=True)
class ScheduleDeleted:
    deleted_by: str


@dataclass(frozen=True)
class ScheduleTriggered:
    """Run now, once, at the logical time the event occurred (overlap policy applies)."""

    triggered_by: str


@dataclass(frozen=True)
class ScheduleTick:
    """Time reached a tick: written by the processor when the tick is due; reading it back decides."""

    logical_time: int


@dataclass(frozen=True)
class DependencyMatch:
    """The record that satisfied a trigger dependency: what an auditor needs to see what started a run."""

    name: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class ScheduleFired:
    logical_time: int
    execution_id: str
    cause: str  # "schedule", "catchup" (a missed tick, caught up), "buffered", "manual", "backfill", "trigger"
    dependencies: tuple[DependencyMatch, ...] = ()  # cause "trigger": the records that satisfied them


@dataclass(frozen=True)
class ScheduleSkipped:
    """Ticks from ``logical_time`` through ``through`` start nothing, for ``reason``."""

    logical_time: int
    through: int
    reason: str


@dataclass(frozen=True)
class ScheduleBuffered:
    """A tick waits for the running execution to end (overlap buffer_one, buffer_all, cancel_other)."""

    logical_time: int


@dataclass(frozen=True)
class ScheduleRunEnded:
    """An execution the schedule started has ended (written by the engine from the executions topic), or could
    not be started (status REJECTED, with the reason)."""

    execution_id: str
    logical_time: int
    status: str
    detail: str | None = None


@dataclass(frozen=True)
class ScheduleBackfillRequested:
    """Start the executions of every tick from ``start`` through ``end`` (past ticks, at most ``max_per_minute`` a
    minute; 0: no limit). ``overlap``: allow_all, skip, or wait (the default: one run after another)."""

    backfill_id: str
    start: int
    end: int
    overlap: str
    max_per_minute: int
    requested_by: str


@dataclass(frozen=True)
class ScheduleBackfillTick:
    """A backfill reached its next tick (written by the processor at the backfill's pace)."""

    backfill_id: str
    logical_time: int


@dataclass(frozen=True)
class ScheduleBackfillEnded:
    backfill_id: str
    reason: str  # "done", or why it stopped


@dataclass(frozen=True)
class ScheduleWaiting:
    """A tick waits, until ``until``, for a record matching each of the schedule's dependencies."""

    logical_time: int
    until: int


@dataclass(frozen=True)
class ScheduleDependencyMet:
    """A record satisfied one dependency of a waiting tick (written by the engine, which watches the topics)."""

    logical_time: int
    match: DependencyMatch


@dataclass(frozen=True)
class ScheduleWaitExpired:
    """A waiting tick's time is up (written by the engine when it is)."""

    logical_time: int


Payload = (ScheduleCreated | ScheduleUpdated | SchedulePaused | ScheduleResumed | ScheduleDeleted | ScheduleTriggered
           | ScheduleTick | ScheduleFired | ScheduleSkipped | ScheduleBuffered | ScheduleRunEnded
           | ScheduleBackfillRequested | ScheduleBackfillTick | ScheduleBackfillEnded | ScheduleWaiting
           | ScheduleDependencyMet | ScheduleWaitExpired)

PAYLOAD_TYPES: Mapping[str, type] = {cls.__name__: cls for cls in (
    ScheduleCreated, ScheduleUpdated, SchedulePaused, ScheduleResumed, ScheduleDeleted, ScheduleTriggered,
    ScheduleTick, ScheduleFired, ScheduleSkipped, ScheduleBuffered, ScheduleRunEnded, ScheduleBackfillRequested,
    ScheduleBackfillTick, ScheduleBackfillEnded, ScheduleWaiting, ScheduleDependencyMet, ScheduleWaitExpired)}

# what only the engine writes (signed, as on the executions topic)
DECIDED_BY_ENGINE = (ScheduleTick, ScheduleFired, ScheduleSkipped, ScheduleBuffered, ScheduleRunEnded,
                     ScheduleBackfillTick, ScheduleBackfillEnded, ScheduleWaiting, ScheduleDependencyMet,
                     ScheduleWaitExpired)


@dataclass(frozen=True)
class ScheduleEvent:
    """The envelope: one record of the schedules topic."""

    event_id: str
    schedule_id: str
    occurred_at: int  # UTC ms
    producer: str
    payload: Payload
    causation_id: str | None = None
    correlation_id: str | None = None

    @property
    def type(self) -> str:
        return type(self.payload).__name__
