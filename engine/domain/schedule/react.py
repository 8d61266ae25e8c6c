"""react(state, event, now) -> decisions for schedules. ``state`` already has ``event`` applied; pure: time comes
in as ``now`` (UTC ms).

A tick is decided in two steps. Catch-up first: a tick decided more than ``ON_TIME_MS`` after it was due was
*missed* (the engine was away, or far behind); ``none`` fires no missed tick, ``latest`` only the latest one due
if it is within the window, ``all`` every one within the window. Ticks skipped together are one event with the
first and last of them. Then overlap, when an execution of the schedule is still running: Temporal's policies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.domain import cascade
from engine.domain.cadence import next_fire, parse, previous_fire
from engine.domain.ids import execution_id_for_key, schedule_idempotency_key
from engine.domain.schedule import events as se
from engine.domain.schedule.commands import ScheduleCommand, StartExecution, StopExecution
from engine.domain.schedule.state import Run, ScheduleState

ON_TIME_MS = 10_000  # a tick decided within this of its time was not missed (Temporal's smallest catch-up window)
MAX_BUFFERED = 1000


Decisions = cascade.Decisions[se.Payload, ScheduleCommand]


Reactor = Callable[[ScheduleState, se.ScheduleEvent, Any, int], Decisions]


def react(state: ScheduleState | None, event: se.ScheduleEvent, now: int) -> Decisions:
    if state is None:
        return Decisions()
    return REACTORS[type(event.payload)](state, event, event.payload, now)


def run_id(state: ScheduleState, logical_time: int, cause: str) -> str:
    """The one execution a tick (or a manual trigger) can start."""
    key = schedule_idempotency_key(state.schedule_id, logical_time, cause)
    return execution_id_for_key(state.spec.flow_name, key, state.spec.project)


def _start(state: ScheduleState, logical_time: int, cause: str,
           matches: tuple[se.DependencyMatch, ...] = ()) -> Decisions:
    return Decisions(events=[se.ScheduleFired(logical_time, run_id(state, logical_time, cause), cause, matches)])


def _overlap(state: ScheduleState, tick: int, cause: str, matches: tuple[se.DependencyMatch, ...] = ()
             ) -> Decisions:
    """Fire ``tick``, or what the overlap policy says while an execution is still running."""
    policy = state.spec.overlap
    if not state.running or policy == "allow_all":
        return _start(state, tick, cause, matches)
    running = ", ".join(run.execution_id for run in state.running)
    if policy == "skip":
        return Decisions(events=[se.ScheduleSkipped(tick, tick, f"overlap skip: {running} still running")])
    if policy == "buffer_one" and state.buffered:
        return Decisions(events=[se.ScheduleSkipped(tick, tick, "overlap buffer_one: a tick is already waiting")])
    if len(state.buffered) >= MAX_BUFFERED:
        return Decisions(events=[se.ScheduleSkipped(tick, tick, f"overlap {policy}: {MAX_BUFFERED} ticks are "
                                                                f"waiting already")])
    if policy in ("buffer_one", "buffer_all"):
        return Decisions(events=[se.ScheduleBuffered(tick)])
    stops: list[ScheduleCommand] = [StopExecution(state.schedule_id, run.execution_id,
                                                  f"schedule {state.schedule_id}: overlap {policy} at tick {tick}")
                                    for run in state.running]
    if policy == "cancel_other":  # the new run waits until the cancelled one has ended
        return Decisions(events=[se.ScheduleBuffered(tick)], commands=stops)
    decided = _start(state, tick, cause, matches)  # terminate_other: the new run starts at once
    decided.commands += stops
    return decided


def _on_tick(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleTick, now: int) -> Decisions:
    if p.logical_time not in state.due:
        return Decisions()
    tick, spec = p.logical_time, state.spec
    late = now - state.due_at(tick)
    if late <= ON_TIME_MS:
        return _fire_or_wait(state, tick, "schedule")
    cadence = parse(spec.cadence)
    latest = previous_fire(cadence, spec.timezone, now + 1, state.anchor) or tick  # the latest tick due by now

    def skip_through(last: int | None, reason: str) -> Decisions:
        return Decisions(events=[se.ScheduleSkipped(tick, max(last or tick, tick), reason)])

    if spec.catchup == "none":
        return skip_through(previous_fire(cadence, spec.timezone, now - ON_TIME_MS + 1, state.anchor),
                            "missed (catch-up none)")
    if latest > tick and spec.catchup == "latest":
        return skip_through(previous_fire(cadence, spec.timezone, latest, state.anchor),
                            "missed (catch-up latest): a later tick is due")
    window_start = now - spec.catchup_window_ms
    if tick < window_start:
        return skip_through(previous_fire(cadence, spec.timezone, window_start, state.anchor),
                            "missed: older than the catch-up window")
    return _fire_or_wait(state, tick, "catchup")


def _fire_or_wait(state: ScheduleState, tick: int, cause: str) -> Decisions:
    """A tick with dependencies waits for them (Azkaban's trigger instance); one without goes to overlap."""
    if state.spec.dependencies:
        return Decisions(events=[se.ScheduleWaiting(tick, tick + (state.spec.max_wait_ms or 0))])
    return _overlap(state, tick, cause)


def _on_dependency_met(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleDependencyMet,
                       now: int) -> Decisions:
    wait = state.wait_for(p.logical_time)
    if wait is None or wait.unmet(state.spec):
        return Decisions()
    return _overlap(state, wait.logical_time, "trigger", wait.matched)


def _on_wait_expired(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleWaitExpired,
                     now: int) -> Decisions:
    """As Azkaban: a trigger instance whose dependencies did not all come in time starts nothing."""
    wait = state.wait_for(p.logical_time)
    if wait is None or not wait.expired:
        return Decisions()
    waited = wait.until - wait.logical_time
    within = f"{waited // 60_000} min" if waited % 60_000 == 0 else f"{waited / 1000:g} s"
    return Decisions(events=[se.ScheduleSkipped(wait.logical_time, wait.logical_time, f"dependencies not met "
                                                f"within {within}: {', '.join(wait.unmet(state.spec))}")])


def _on_triggered(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleTriggered, now: int) -> Decisions:
    if event.occurred_at not in state.due:
        return Decisions()
    return _overlap(state, event.occurred_at, "manual")


def _on_fired(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleFired, now: int) -> Decisions:
    run = state.last_fired
    return Decisions(commands=[start_command(state, run)] if run is not None else [])


def start_command(state: ScheduleState, run: Run) -> StartExecution:
    return StartExecution(state.schedule_id, run.execution_id, run.logical_time, state.spec.flow,
                          state.spec.version, state.spec.params, run.idempotency_key)


def _on_run_ended(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleRunEnded, now: int) -> Decisions:
    """A run ended: the first waiting tick starts once nothing runs."""
    if not state.buffered or state.running or not state.live:
        return Decisions()
    return _start(state, state.buffered[0], "buffered")


def _on_resumed(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleResumed, now: int) -> Decisions:
    """The ticks that came while the schedule was paused start nothing; one event says which."""
    first = state.next_tick()
    if first is None or first > event.occurred_at:
        return Decisions()
    last = previous_fire(parse(state.spec.cadence), state.spec.timezone, event.occurred_at + 1, state.anchor)
    return Decisions(events=[se.ScheduleSkipped(first, max(last or first, first), "paused")])


def _on_backfill_requested(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleBackfillRequested,
                           now: int) -> Decisions:
    """A backfill whose range holds no tick ends at once (later ones end with their last tick)."""
    backfill = next((b for b in state.backfills if b.backfill_id == p.backfill_id), None)
    if backfill is None:
        return Decisions()
    first = next_fire(parse(state.spec.cadence), state.spec.timezone, backfill.cursor, state.anchor_for(backfill))
    if first is None or first > backfill.end:
        return Decisions(events=[se.ScheduleBackfillEnded(p.backfill_id, "no tick in the range")])
    return Decisions()


def _on_backfill_tick(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleBackfillTick,
                      now: int) -> Decisions:
    if p.logical_time not in state.due or not state.backfills:
        return Decisions()
    backfill = state.backfills[0]
    tick = p.logical_time
    if backfill.overlap == "skip" and state.running:
        running = ", ".join(run.execution_id for run in state.running)
        decided = Decisions(events=[se.ScheduleSkipped(tick, tick, f"backfill {backfill.backfill_id}: overlap "
                                                                    f"skip: {running} still running")])
    else:
        decided = _start(state, tick, "backfill")
    following = next_fire(parse(state.spec.cadence), state.spec.timezone, tick, state.anchor_for(backfill))
    if following is None or following > backfill.end:
        decided.events.append(se.ScheduleBackfillEnded(backfill.backfill_id, "done"))
    return decided


def _on_updated(state: ScheduleState, event: se.ScheduleEvent, p: se.ScheduleUpdated, now: int) -> Decisions:
    """A new expression may leave the running backfill no tick in its range: it ends then."""
    found = state.next_backfill_tick()
    if found is None or found[1] is not None:
        return Decisions()
    return Decisions(events=[se.ScheduleBackfillEnded(found[0].backfill_id, "the schedule's expression has no "
                                                                              "tick left in the range")])


def _nothing(state: ScheduleState, event: se.ScheduleEvent, p: Any, now: int) -> Decisions:
    return Decisions()


REACTORS: Mapping[type, Reactor] = {
    se.ScheduleCreated: _nothing,  # its first tick comes from the processor's timers
    se.ScheduleUpdated: _on_updated,
    se.SchedulePaused: _nothing,
    se.ScheduleResumed: _on_resumed,
    se.ScheduleDeleted: _nothing,
    se.ScheduleTriggered: _on_triggered,
    se.ScheduleTick: _on_tick,
    se.ScheduleFired: _on_fired,
    se.ScheduleSkipped: _nothing,
    se.ScheduleBuffered: _nothing,
    se.ScheduleRunEnded: _on_run_ended,
    se.ScheduleBackfillRequested: _on_backfill_requested,
    se.ScheduleBackfillTick: _on_backfill_tick,
    se.ScheduleBackfillEnded: _nothing,
    se.ScheduleWaiting: _nothing,
    se.ScheduleDependencyMet: _on_dependency_met,
    se.ScheduleWaitExpired: _on_wait_expired,
}
