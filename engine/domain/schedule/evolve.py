"""evolve(state, event) -> state for schedules: applies one event, decides nothing.

Each branch is guarded so that applying an event twice returns the very same state object: ticks and their
decisions by logical time (a decision applies only to a tick still ``due`` or ``buffered``), run ends by
execution id, and control events (update, pause, resume, trigger) by event id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.domain.frozen import changed
from engine.domain.ids import schedule_idempotency_key
from engine.domain.schedule import events as se
from engine.domain.schedule.state import Backfill, Run, ScheduleState, Wait

State = ScheduleState | None
Applier = Callable[[ScheduleState, se.ScheduleEvent, Any], ScheduleState]


class MissingApplier(TypeError):
    """A schedule event type has no evolve branch: a bug, never silently ignored."""


def evolve(state: State, event: se.ScheduleEvent) -> State:
    payload = event.payload
    applier = APPLIERS.get(type(payload))
    if applier is None:
        raise MissingApplier(f"no evolve branch for {type(payload).__name__}")
    if isinstance(payload, se.ScheduleCreated):
        if state is not None:
            return state
        return ScheduleState(schedule_id=event.schedule_id, spec=payload.spec, created_at=event.occurred_at,
                             created_by=payload.created_by, cursor=event.occurred_at, updated_at=event.occurred_at)
    if state is None:
        return None  # an event of a schedule never created changes nothing
    return applier(state, event, payload)


def fold(events: list[se.ScheduleEvent], state: State = None) -> State:
    for event in events:
        state = evolve(state, event)
    return state


def _control(apply: Applier) -> Applier:
    """Control events apply once, by event id, and never to a deleted schedule."""
    def guarded(state: ScheduleState, event: se.ScheduleEvent, p: Any) -> ScheduleState:
        if state.deleted or event.event_id in state.seen:
            return state
        return apply(changed(state, seen=state.seen | {event.event_id}, updated_at=event.occurred_at), event, p)
    return guarded


def _updated(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleUpdated) -> ScheduleState:
    return changed(state, spec=p.spec)


def _paused(state: ScheduleState, event: se.ScheduleEvent, p: se.SchedulePaused) -> ScheduleState:
    return changed(state, paused=True)


def _resumed(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleResumed) -> ScheduleState:
    return changed(state, paused=False)


def _triggered(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleTriggered) -> ScheduleState:
    return changed(state, due=(*state.due, event.occurred_at))


def _deleted(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleDeleted) -> ScheduleState:
    if state.deleted:
        return state
    return changed(state, deleted=True, due=(), buffered=(), backfills=(), waiting=(), updated_at=event.occurred_at)


def _tick(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleTick) -> ScheduleState:
    if p.logical_time <= state.cursor or not state.live:
        return state
    return changed(state, cursor=p.logical_time, due=(*state.due, p.logical_time))


def _without(times: tuple[int, ...], tick: int) -> tuple[int, ...]:
    index = times.index(tick)
    return times[:index] + times[index + 1:]


def _without_wait(state: ScheduleState, tick: int) -> tuple[Wait, ...]:
    return tuple(w for w in state.waiting if w.logical_time != tick)


def _fired(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleFired) -> ScheduleState:
    if p.logical_time in state.due:
        due, buffered = _without(state.due, p.logical_time), state.buffered
    elif p.logical_time in state.buffered:
        due, buffered = state.due, _without(state.buffered, p.logical_time)
    elif state.wait_for(p.logical_time) is not None:
        state = changed(state, waiting=_without_wait(state, p.logical_time))
        due, buffered = state.due, state.buffered
    else:
        return state
    run = Run(p.execution_id, p.logical_time, schedule_idempotency_key(state.schedule_id, p.logical_time, p.cause))
    return changed(state, due=due, buffered=buffered, running=(*state.running, run), fired=state.fired + 1,
                   last_fired=run)


def _skipped(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleSkipped) -> ScheduleState:
    if p.logical_time in state.due:
        return changed(state, due=_without(state.due, p.logical_time), cursor=max(state.cursor, p.through),
                       skipped=state.skipped + 1)
    if p.logical_time in state.buffered:
        return changed(state, buffered=_without(state.buffered, p.logical_time), skipped=state.skipped + 1)
    if state.wait_for(p.logical_time) is not None:
        return changed(state, waiting=_without_wait(state, p.logical_time), skipped=state.skipped + 1)
    if p.logical_time > state.cursor:  # a range decided without a tick of its own (the ticks of a pause)
        return changed(state, cursor=p.through, skipped=state.skipped + 1)
    return state


def _buffered(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleBuffered) -> ScheduleState:
    if p.logical_time in state.due:
        return changed(state, due=_without(state.due, p.logical_time), buffered=(*state.buffered, p.logical_time))
    if state.wait_for(p.logical_time) is not None:
        return changed(state, waiting=_without_wait(state, p.logical_time),
                       buffered=(*state.buffered, p.logical_time))
    return state


def _waiting(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleWaiting) -> ScheduleState:
    if p.logical_time not in state.due:
        return state
    return changed(state, due=_without(state.due, p.logical_time),
                   waiting=(*state.waiting, Wait(p.logical_time, p.until)))


def _dependency_met(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleDependencyMet) -> ScheduleState:
    wait = state.wait_for(p.logical_time)
    if wait is None or wait.expired or p.match.name not in wait.unmet(state.spec):
        return state
    moved = changed(wait, matched=(*wait.matched, p.match))
    return changed(state, waiting=tuple(moved if w is wait else w for w in state.waiting))


def _wait_expired(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleWaitExpired) -> ScheduleState:
    wait = state.wait_for(p.logical_time)
    if wait is None or wait.expired:
        return state
    return changed(state, waiting=tuple(changed(w, expired=True) if w is wait else w for w in state.waiting))


def _run_ended(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleRunEnded) -> ScheduleState:
    running = tuple(run for run in state.running if run.execution_id != p.execution_id)
    if len(running) == len(state.running):
        return state
    return changed(state, running=running, last_status=p.status)


def _backfill_requested(state: ScheduleState, event: se.ScheduleEvent,
                        p: se.ScheduleBackfillRequested) -> ScheduleState:
    if any(b.backfill_id == p.backfill_id for b in state.backfills):
        return state
    backfill = Backfill(p.backfill_id, p.start, p.end, p.overlap, p.max_per_minute, p.requested_by, p.start - 1)
    return changed(state, backfills=(*state.backfills, backfill))


def _backfill_tick(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleBackfillTick) -> ScheduleState:
    if not state.backfills or state.backfills[0].backfill_id != p.backfill_id or not state.live:
        return state
    backfill = state.backfills[0]
    if p.logical_time <= backfill.cursor:
        return state
    moved = changed(backfill, cursor=p.logical_time, ticks=backfill.ticks + 1, last_at=event.occurred_at)
    return changed(state, backfills=(moved, *state.backfills[1:]), due=(*state.due, p.logical_time))


def _backfill_ended(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleBackfillEnded) -> ScheduleState:
    remaining = tuple(b for b in state.backfills if b.backfill_id != p.backfill_id)
    return state if len(remaining) == len(state.backfills) else changed(state, backfills=remaining)


APPLIERS: Mapping[type, Applier] = {
    se.ScheduleCreated: lambda state, event, p: state,  # handled before dispatch: it creates the state
    se.ScheduleUpdated: _control(_updated),
    se.SchedulePaused: _control(_paused),
    se.ScheduleResumed: _control(_resumed),
    se.ScheduleTriggered: _control(_triggered),
    se.ScheduleDeleted: _deleted,
    se.ScheduleTick: _tick,
    se.ScheduleFired: _fired,
    se.ScheduleSkipped: _skipped,
    se.ScheduleBuffered: _buffered,
    se.ScheduleRunEnded: _run_ended,
    se.ScheduleBackfillRequested: _control(_backfill_requested),
    se.ScheduleBackfillTick: _backfill_tick,
    se.ScheduleBackfillEnded: _backfill_ended,
    se.ScheduleWaiting: _waiting,
    se.ScheduleDependencyMet: _dependency_met,
    se.ScheduleWaitExpired: _wait_expired,
}
