"""Deterministic ids: the fast derivation gives exactly the ids ``uuid.uuid5`` gives, so ids written before it (and
the ones in the golden histories) still name the same decisions."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from engine.domain.ids import NAMESPACE, derived_event_id, name_id, schedule_tick_id, unit_interval


@given(st.text())
def test_name_id_is_uuid5_of_the_namespace(name: str) -> None:
    assert name_id(name) == str(uuid.uuid5(NAMESPACE, name))


@given(st.text())
def test_unit_interval_is_drawn_from_the_uuid5(seed: str) -> None:
    assert unit_interval(seed) == uuid.uuid5(NAMESPACE, seed).int % 1_000_000 / 1_000_000
    assert 0 <= unit_interval(seed) < 1


def test_ids_of_known_inputs_do_not_move() -> None:
    # written once with uuid.uuid5: an id that moved would make a re-read record look like a new decision
    assert derived_event_id("cause", 0) == str(uuid.uuid5(NAMESPACE, "cause/0"))
    assert schedule_tick_id("nightly", 1_800_000_000_000) == str(uuid.uuid5(NAMESPACE, "tick/nightly/1800000000000"))
