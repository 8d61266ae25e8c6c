"""Recorded histories: folding them gives the recorded final state, and replaying their inputs through the
engine decides exactly the recorded events (same ids, same order)."""

from __future__ import annotations

import json

import pytest

from engine.codec.json_events import event_from_json, event_to_json
from engine.domain.evolve import fold
from engine.domain.process import process
from tests.support.golden import GOLDEN_DIR, summary

GOLDEN = sorted(GOLDEN_DIR.glob("*.json"))


def test_golden_histories_exist():
    assert len(GOLDEN) >= 4


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_fold_gives_the_recorded_final_state(path):
    golden = json.loads(path.read_text())
    events = [event_from_json(e) for e in golden["events"]]
    assert summary(fold(events)) == golden["final_state"]


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_replaying_the_inputs_decides_the_recorded_events(path):
    golden = json.loads(path.read_text())
    events = [event_from_json(e) for e in golden["events"]]
    # inputs: what came from outside, plus timer firings (engine events that no other event caused)
    inputs = [e for e in events if e.producer != "engine" or e.causation_id is None]
    state, log = None, []
    for event in inputs:
        step = process(state, event, event.occurred_at)
        state = step.state
        log += [event, *step.events]
    assert [event_to_json(e) for e in log] == golden["events"]
