"""Ticks this instance wrote, by where they were appended, so that a run of them is decided as soon as the first
is read rather than one faust record at a time.

A tick is decided when it is read back, after everything before it in its partition. At the minute thousands
are written at once, and their offsets follow one another: nothing else lies between two ticks at offsets ``o``
and ``o + 1``. So once the record at ``o`` is handled, the tick at ``o + 1`` can be handled at once, from the event
this instance wrote, with exactly the state reading it would have met; and so on along the run. When faust then
delivers those records they are skipped. A gap in the offsets (a record someone else wrote, a transaction marker)
ends the run: what follows is read as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.domain.schedule import events as se


class WrittenTicks:
    def __init__(self) -> None:
        self._at: dict[int, dict[int, se.ScheduleEvent]] = {}  # partition -> offset -> the tick written there
        self._ahead: dict[int, set[int]] = {}  # partition -> offsets decided ahead, not yet read
        self._read_to: dict[int, int] = {}  # partition -> the last offset read

    def add(self, partition: int, offset: int, tick: se.ScheduleEvent) -> None:
        # the delivery report can come after faust has delivered the record itself: then it is decided already
        if offset > self._read_to.get(partition, -1):
            self._at.setdefault(partition, {})[offset] = tick

    def read(self, partition: int, offset: int) -> bool:
        """The record at ``offset`` is read: True (skip it) when it was decided ahead."""
        self._read_to[partition] = offset
        written = self._at.get(partition)
        if written:
            written.pop(offset, None)  # read now: decided as usual, or already ahead
        ahead = self._ahead.get(partition)
        if ahead and offset in ahead:
            ahead.discard(offset)
            return True
        return False

    def following(self, partition: int, offset: int) -> Iterator[tuple[int, se.ScheduleEvent]]:
        """The ticks written right after ``offset``, in order, while the offsets follow one another. The caller
        calls ``taken`` for each it decides and stops when it wants."""
        written = self._at.get(partition)
        while written and (tick := written.get(offset + 1)) is not None:
            offset += 1
            yield offset, tick

    def taken(self, partition: int, offset: int) -> None:
        self._at[partition].pop(offset, None)
        self._ahead.setdefault(partition, set()).add(offset)

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._at.pop(partition, None)
            self._ahead.pop(partition, None)
            self._read_to.pop(partition, None)
