"""The engine's own derived events are skipped once when read back, and only by the instance that applied them."""

from __future__ import annotations

from engine.processor.own_records import OwnRecords


def test_an_own_event_is_skipped_once() -> None:
    own = OwnRecords()
    own.remember(2, ["e1"])
    headers = [OwnRecords.header("e1")]
    assert own.read_back(2, headers)
    assert not own.read_back(2, headers)  # a second copy (a producer retry, another instance) is folded as usual


def test_only_the_partition_it_was_written_to_and_only_with_the_header() -> None:
    own = OwnRecords()
    own.remember(0, ["e1"])
    assert not own.read_back(1, [OwnRecords.header("e1")])
    assert not own.read_back(0, [])
    assert not own.read_back(0, None)
    assert not own.read_back(0, [OwnRecords.header("e2")])


def test_a_partition_that_leaves_is_forgotten() -> None:
    # its next owner never applied these events: it rebuilds from the log, and so must this instance if the
    # partition comes back
    own = OwnRecords()
    own.remember(3, ["e1"])
    own.forget({3})
    assert not own.read_back(3, [OwnRecords.header("e1")])
