"""The snapshot codec keeps an execution's state exactly, at every step of every recorded history, and refuses
what it did not write."""

from __future__ import annotations

import json

import pytest

from engine.codec.json_events import event_from_json
from engine.codec.state_snapshot import SnapshotError, decode, encode, state_from_snapshot, state_to_snapshot
from engine.domain.evolve import evolve
from tests.support.golden import GOLDEN_DIR

GOLDEN = sorted(GOLDEN_DIR.glob("*.json"))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_state_of_a_history_comes_back_equal(path):
    state = None
    for raw in json.loads(path.read_text())["events"]:
        state = evolve(state, event_from_json(raw))
        if state is None:
            continue
        value = decode(encode({"state": state_to_snapshot(state)}))
        assert state_from_snapshot(value["state"]) == state


def _one_state() -> dict:  # type: ignore[type-arg]
    state = None
    for raw in json.loads(GOLDEN[0].read_text())["events"]:
        state = evolve(state, event_from_json(raw))
    assert state is not None
    return state_to_snapshot(state)


@pytest.mark.parametrize("spoil", [
    lambda s: s.pop("jobs"),
    lambda s: s.update(extra=1),
    lambda s: s.update(status="ASLEEP"),
    lambda s: s["jobs"][next(iter(s["jobs"]))].update(status=7),
    lambda s: s["jobs"].update(ghost=next(iter(s["jobs"].values()))),
    lambda s: s.update(flow="__import__('os').system('true')"),
])
def test_a_spoilt_state_is_refused_with_a_reason(spoil):
    state = _one_state()
    spoil(state)
    with pytest.raises(SnapshotError):
        state_from_snapshot(state)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[]", b'{"format": 99}', b"not json"])
def test_a_value_that_is_not_a_snapshot_record_is_refused(data):
    with pytest.raises(SnapshotError):
        decode(data)
