"""Golden histories of schedules: recorded logs with the state they must fold to (as tests/support/golden.py is
for executions). Record them again, after a deliberate change reviewed in the diff, with
``python -m tests.support.schedule_golden``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.domain.schedule import events as se
from engine.domain.schedule.process import next_due, tick_event
from engine.domain.schedule.spec import ScheduleSpec
from engine.domain.schedule.state import ScheduleState
from engine.domain.triggers import TriggerDependency
from projections.schedule_writer import stored_record
from tests.support.schedules import MIN, Sim, at_minute

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "schedules"
EVERY_MINUTE = ScheduleSpec(flow="etl", cadence="* * * * *")


def summary(state: ScheduleState | None) -> dict[str, Any]:
    assert state is not None
    return {"cursor": state.cursor, "paused": state.paused, "deleted": state.deleted, "fired": state.fired,
            "skipped": state.skipped, "running": [r.execution_id for r in state.running],
            "buffered": list(state.buffered), "due": list(state.due),
            "backfills": [b.backfill_id for b in state.backfills],
            "waiting": [w.logical_time for w in state.waiting], "last_status": state.last_status}


def _catchup_latest_after_downtime(sim: Sim) -> None:
    due = at_minute(10) + 5_000  # the engine was away from minute 1 to here
    while (event := _next_tick(sim, due)) is not None:
        sim.read(event)


def _next_tick(sim: Sim, now: int) -> se.ScheduleEvent | None:
    found = next_due(sim.state)
    return tick_event(sim.state, found[0], now) if found and found[1] <= now else None


def _overlap_buffer_one(sim: Sim) -> None:
    sim.run_until(at_minute(3))
    sim.end(sim.state.running[0].execution_id, at_minute(3) + 10)


def _cancel_other(sim: Sim) -> None:
    sim.run_until(at_minute(2))
    sim.end(sim.state.running[0].execution_id, at_minute(2) + 3, "CANCELLED")


def _paused_and_resumed(sim: Sim) -> None:
    sim.run_until(at_minute(1))
    sim.end(sim.state.running[0].execution_id, at_minute(1) + 1)
    sim.put(se.SchedulePaused("ops", "maintenance"), at_minute(1) + 2)
    sim.run_until(at_minute(4))
    sim.put(se.ScheduleResumed("ops"), at_minute(4) + 5_000)
    sim.run_until(at_minute(5))


def _paced_backfill(sim: Sim) -> None:
    sim.put(se.ScheduleBackfillRequested("last-hour", at_minute(-4), at_minute(-2), "wait", 2, "ops"), at_minute(0))
    for n in range(3):
        sim.run_until(at_minute(0) + n * 30_000)
        if sim.state.running:
            sim.end(sim.state.running[0].execution_id, at_minute(0) + n * 30_000 + 100)


def _event_trigger(sim: Sim) -> None:
    sim.run_until(at_minute(1))
    sim.met(at_minute(1), "landed", 41, at_minute(1) + 10)
    sim.run_until(at_minute(2) + 2 * MIN)  # the tick of minute 2 waits in vain


DEPENDENCY = TriggerDependency("landed", "kafka", {"topic": "events", "match": "landed"})
SCENARIOS: dict[str, tuple[ScheduleSpec, Callable[[Sim], None]]] = {
    "catchup_latest_after_downtime": (EVERY_MINUTE, _catchup_latest_after_downtime),
    "overlap_buffer_one": (replace(EVERY_MINUTE, overlap="buffer_one"), _overlap_buffer_one),
    "overlap_cancel_other": (replace(EVERY_MINUTE, overlap="cancel_other"), _cancel_other),
    "paused_and_resumed": (EVERY_MINUTE, _paused_and_resumed),
    "paced_backfill": (EVERY_MINUTE, _paced_backfill),
    "event_trigger_met_then_expired": (replace(EVERY_MINUTE, overlap="allow_all", dependencies=(DEPENDENCY,),
                                               max_wait_ms=MIN), _event_trigger),
}


def record(name: str) -> dict[str, Any]:
    spec, scenario = SCENARIOS[name]
    sim = Sim(spec, created_at=at_minute(0), name=name)
    scenario(sim)
    return {"name": name, "events": [stored_record(e) for e in sim.log], "final_state": summary(sim.state)}


if __name__ == "__main__":
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        (GOLDEN_DIR / f"{scenario}.json").write_text(json.dumps(record(scenario), indent=1) + "\n")
        print(f"recorded {scenario}")
