"""One processing step for a schedule, as ``engine.domain.process`` is for an execution: apply the incoming event,
then decide and apply everything it leads to; and the tick a schedule's timer writes when it is due."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.domain.cascade import cascade
from engine.domain.ids import backfill_tick_id, derived_event_id, schedule_tick_id, wait_expired_id
from engine.domain.schedule import events as se
from engine.domain.schedule.commands import ScheduleCommand, StartExecution
from engine.domain.schedule.evolve import State, evolve
from engine.domain.schedule.react import react


@dataclass(frozen=True)
class Step:
    state: State
    changed: bool  # False: a duplicate, or an event of a schedule never created
    events: list[se.ScheduleEvent] = field(default_factory=list)
    commands: list[ScheduleCommand] = field(default_factory=list)


def process(state: State, event: se.ScheduleEvent, now: int) -> Step:
    done = cascade(state, event, now, evolve, react, _derive)
    return Step(done.state, done.changed, done.events, done.commands)


def _derive(cause: se.ScheduleEvent, index: int, payload: se.Payload, now: int) -> se.ScheduleEvent:
    return se.ScheduleEvent(event_id=derived_event_id(cause.event_id, index), schedule_id=cause.schedule_id,
                            occurred_at=now, producer="engine", payload=payload, causation_id=cause.event_id,
                            correlation_id=cause.correlation_id)


def next_due(state: State) -> tuple[int, int] | None:
    """(logical time, when to write it) of the schedule's next tick, or None while it has none to come."""
    if state is None or not state.live:
        return None
    tick = state.next_tick()
    return None if tick is None else (tick, state.due_at(tick))


def tick_event(state: State, logical_time: int, now: int) -> se.ScheduleEvent | None:
    """The tick to write for ``logical_time``, or None when the schedule has moved on since it was armed."""
    due = next_due(state)
    if state is None or due is None or due[0] != logical_time:
        return None
    return se.ScheduleEvent(event_id=schedule_tick_id(state.schedule_id, logical_time),
                            schedule_id=state.schedule_id, occurred_at=now, producer="engine",
                            payload=se.ScheduleTick(logical_time))


def next_backfill_due(state: State) -> tuple[str, int, int] | None:
    """(backfill id, logical time, when to write it) of the running backfill's next tick, at its pace."""
    found = state.next_backfill_tick() if state is not None else None
    if found is None or found[1] is None:
        return None
    backfill, tick = found
    spacing = 60_000 // backfill.max_per_minute if backfill.max_per_minute else 0
    due = backfill.last_at + spacing if backfill.last_at is not None else 0
    return backfill.backfill_id, tick, due


def backfill_tick_event(state: State, backfill_id: str, logical_time: int, now: int) -> se.ScheduleEvent | None:
    due = next_backfill_due(state)
    if state is None or due is None or due[:2] != (backfill_id, logical_time):
        return None
    return se.ScheduleEvent(event_id=backfill_tick_id(state.schedule_id, backfill_id, logical_time),
                            schedule_id=state.schedule_id, occurred_at=now, producer="engine",
                            payload=se.ScheduleBackfillTick(backfill_id, logical_time))


def next_wait_expiry(state: State) -> tuple[int, int] | None:
    """(logical time, until) of the waiting tick whose time runs out first."""
    if state is None or state.deleted:
        return None
    open_waits = [(w.until, w.logical_time) for w in state.waiting if not w.expired]
    if not open_waits:
        return None
    until, tick = min(open_waits)
    return tick, until


def wait_expired_event(state: State, logical_time: int, now: int) -> se.ScheduleEvent | None:
    found = next_wait_expiry(state)
    if state is None or found is None or found[0] != logical_time or now < found[1]:
        return None
    return se.ScheduleEvent(event_id=wait_expired_id(state.schedule_id, logical_time), schedule_id=state.schedule_id,
                            occurred_at=now, producer="engine", payload=se.ScheduleWaitExpired(logical_time))


__all__ = ["StartExecution", "Step", "backfill_tick_event", "next_backfill_due", "next_due", "next_wait_expiry",
           "process", "tick_event", "wait_expired_event"]
