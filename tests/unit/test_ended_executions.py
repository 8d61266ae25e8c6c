"""An ended execution leaves the engine's state after a grace; its id stays (boundedly), so the engine still
answers what comes late about it as it did when it held the state."""

from __future__ import annotations

from engine.domain import events as ev
from engine.domain.commands import KillJob
from engine.domain.state import ExecutionStatus
from engine.processor.core import EngineCore
from tests.unit.test_processor_core import FLOW, T0, feed, start

GRACE = 60_000


def ended(core: EngineCore, execution_id: str) -> None:
    start(core, execution_id)
    feed(core, execution_id, ev.JobSucceeded("a", 1), 3)


def test_an_ended_execution_keeps_its_state_for_the_grace_then_only_its_id():
    core = EngineCore(ended_grace_ms=GRACE)
    ended(core, "ex-1")
    start(core, "ex-2")
    ended_at = core.states["ex-1"].ended_at
    assert ended_at is not None
    assert core.evict(ended_at + GRACE - 1) == 0 and "ex-1" in core.states
    assert core.evict(ended_at + GRACE) == 1
    assert "ex-1" not in core.states and "ex-1" not in core.partition_of
    assert core.ended["ex-1"] == (0, ExecutionStatus.SUCCEEDED.value)
    assert "ex-2" in core.states  # a live execution stays, whatever its age
    assert core.kept("ex-1") == "SUCCEEDED"


def test_what_comes_late_about_a_forgotten_execution_changes_nothing():
    core = EngineCore(ended_grace_ms=0)
    ended(core, "ex-1")
    core.evict(T0 + 10**9)
    late = core.handle(ev.Event("late-1", "ex-1", T0 + 10, "worker", ev.JobSucceeded("a", 1)), 0, T0 + 10)
    assert late.events == [] and late.commands == [] and not late.unknown_execution  # refused, not dead-lettered
    again = core.handle(ev.Event("again", "ex-1", T0 + 11, "api",
                                 ev.ExecutionSubmitted("one", FLOW.version_hash(), FLOW, {}, "tester")), 0, T0 + 11)
    assert again.events == [] and again.commands == [] and "ex-1" not in core.states  # a repeat starts nothing
    stale = core.handle(ev.Event("stale", "ex-1", T0 + 12, "worker", ev.JobStarted("a", 2, "w9")), 0, T0 + 12)
    assert stale.commands == [KillJob("ex-1", "a", 2, "this execution has ended", "w9")]
    # the engine's own events read back after the state went change nothing either
    core.fold_only(ev.Event("own", "ex-1", T0 + 13, "engine", ev.JobQueued("a", 1), causation_id="x"), 0, T0 + 13)
    assert "ex-1" not in core.states


def test_the_ids_kept_are_bounded_and_the_oldest_is_forgotten_for_the_next_snapshot():
    core = EngineCore(ended_grace_ms=0, ended_kept=2)
    for execution_id in ("ex-1", "ex-2", "ex-3"):
        ended(core, execution_id)
    core.evict(T0 + 10**9)
    assert list(core.ended) == ["ex-2", "ex-3"]
    assert dict(core.take_dirty(0)) == {"ex-1": None, "ex-2": "SUCCEEDED", "ex-3": "SUCCEEDED"}
    assert core.take_dirty(0) == []  # taken once
    unknown = core.handle(ev.Event("late", "ex-1", T0, "worker", ev.JobSucceeded("a", 1)), 0, T0)
    assert unknown.unknown_execution  # beyond the bound an id is unknown, and its report is dead-lettered


def test_a_core_loaded_from_a_snapshot_holds_what_the_snapshot_held_and_nothing_dirty():
    source = EngineCore(ended_grace_ms=0)
    ended(source, "ex-1")
    start(source, "ex-2")
    source.evict(T0 + 10**9)
    core = EngineCore(ended_grace_ms=0)
    core.load(3, {"ex-2": source.states["ex-2"]}, {"ex-1": "SUCCEEDED"}, T0)
    assert core.states["ex-2"] == source.states["ex-2"] and core.partition_of["ex-2"] == 3
    assert core.ended == {"ex-1": (3, "SUCCEEDED")} and core.dirty == {}
    assert core.counts(3) == (1, 1) and core.counts(0) == (0, 0)
    live = EngineCore()
    live.adopt(core, {3}, T0)
    assert live.ended == {"ex-1": (3, "SUCCEEDED")} and set(live.states) == {"ex-2"}
    live.drop_partitions({3})
    assert live.ended == {} and live.states == {} and live.dirty == {}


def test_what_the_core_holds_follows_the_live_executions_not_the_history():
    core = EngineCore(ended_grace_ms=1_000, ended_kept=500)
    live: list[str] = []
    most_states = 0
    for n in range(5_000):
        now = T0 + n * 10
        execution_id = f"ex-{n}"
        submit = ev.Event(f"{execution_id}-s", execution_id, now, "api",
                          ev.ExecutionSubmitted("one", FLOW.version_hash(), FLOW, {}, "tester"))
        for derived in core.handle(submit, n % 3, now).events:
            core.handle(derived, n % 3, now)
        live.append(execution_id)
        if len(live) > 50:  # about 50 live at any time: the oldest ends
            done = live.pop(0)
            for payload in (ev.JobStarted("a", 1, "w1"), ev.JobSucceeded("a", 1)):
                out = core.handle(ev.Event(f"{done}-{type(payload).__name__}", done, now, "worker", payload),
                                  n % 3, now)
                for derived in out.events:
                    core.handle(derived, n % 3, now)
        core.evict(now)
        most_states = max(most_states, len(core.states))
    # 50 live and those ended within the grace (100 executions' worth of it), never the 5,000
    assert most_states <= 50 + 101 + 1
    assert len(core.ended) == 500 and len(core.partition_of) == len(core.states)
    assert all(not core.states[eid].terminal for eid in live)
    assert sum(len(keys) for keys in core._attempts_of.values()) <= most_states


def test_without_snapshots_nothing_is_marked_dirty():
    core = EngineCore(ended_grace_ms=0, ended_kept=1, snapshots=False)
    for execution_id in ("ex-1", "ex-2"):
        ended(core, execution_id)
    core.evict(T0 + 10**9)
    assert core.dirty == {} and list(core.ended) == ["ex-2"]
