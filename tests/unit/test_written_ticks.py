"""A run of ticks this instance wrote is decided from the first one read, in log order; a gap ends the run."""

from __future__ import annotations

from engine.domain.schedule import events as se
from engine.processor.written_ticks import WrittenTicks


def tick(n: int) -> se.ScheduleEvent:
    return se.ScheduleEvent(f"t{n}", f"s{n}", 1_000, "engine", se.ScheduleTick(60_000 * n))


def run_after(written: WrittenTicks, partition: int, offset: int) -> list[int]:
    taken = []
    for at, _tick in written.following(partition, offset):
        written.taken(partition, at)
        taken.append(at)
    return taken


def test_the_ticks_that_follow_a_read_record_are_taken_and_then_skipped_when_read() -> None:
    written = WrittenTicks()
    for offset in (10, 11, 12):
        written.add(0, offset, tick(offset))
    assert not written.read(0, 9)  # someone else's record, decided as usual
    assert run_after(written, 0, 9) == [10, 11, 12]
    assert [written.read(0, o) for o in (10, 11, 12)] == [True, True, True]
    assert not written.read(0, 13)


def test_a_record_of_someone_else_between_two_ticks_ends_the_run() -> None:
    written = WrittenTicks()
    written.add(0, 10, tick(10))
    written.add(0, 12, tick(12))  # offset 11 holds a pause the API wrote: tick 12 must be decided after it
    assert run_after(written, 0, 9) == [10]
    assert written.read(0, 10)
    assert not written.read(0, 11)
    assert run_after(written, 0, 11) == [12]


def test_a_tick_read_before_its_delivery_report_is_not_kept() -> None:
    written = WrittenTicks()
    assert not written.read(0, 10)  # faust delivered it before the timer learned where it landed
    written.add(0, 10, tick(10))
    assert run_after(written, 0, 9) == []


def test_partitions_are_apart_and_forgotten_when_they_leave() -> None:
    written = WrittenTicks()
    written.add(0, 5, tick(5))
    written.add(1, 5, tick(6))
    assert run_after(written, 1, 4) == [5]
    written.forget({0, 1})
    assert run_after(written, 0, 4) == []
    assert not written.read(1, 5)
