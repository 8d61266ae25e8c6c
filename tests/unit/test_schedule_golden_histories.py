"""Recorded schedule histories: folding them gives the recorded state, and replaying their inputs through the
schedule core decides exactly the recorded events (same ids, same order), as tests/unit/test_golden_histories.py
does for executions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.domain.schedule.evolve import fold
from engine.domain.schedule.process import process
from projections.schedule_writer import event_from_stored, stored_record
from tests.support.schedule_golden import GOLDEN_DIR, SCENARIOS, record, summary

GOLDEN = sorted(GOLDEN_DIR.glob("*.json"))


def test_every_scenario_is_recorded() -> None:
    assert {p.stem for p in GOLDEN} == set(SCENARIOS)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_fold_gives_the_recorded_state(path: Path) -> None:
    golden = json.loads(path.read_text())
    assert summary(fold([event_from_stored(e) for e in golden["events"]])) == golden["final_state"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_replaying_the_inputs_decides_the_recorded_events(path: Path) -> None:
    golden = json.loads(path.read_text())
    events = [event_from_stored(e) for e in golden["events"]]
    inputs = [e for e in events if e.producer != "engine" or e.causation_id is None]
    state, log = None, []
    for event in inputs:
        step = process(state, event, event.occurred_at)
        state = step.state
        log += [event, *step.events]
    assert [stored_record(e) for e in log] == golden["events"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_scenarios_still_record_what_is_recorded(name: str) -> None:
    assert record(name) == json.loads((GOLDEN_DIR / f"{name}.json").read_text())
