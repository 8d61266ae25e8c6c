"""Owning the partitions of one topic in the engine's consumer group: when partitions are assigned, their state is
rebuilt (in a thread, from the log up to the group's committed offsets) and adopted before any of their records
is handled; when they are revoked, their state is dropped. Executions and schedules both own partitions so.

Each assignment or revocation of a partition starts a new epoch of it: a rebuild that finishes after its partition
left (or left and came back) must not open it. The rebuild runs after faust's assignment callback returns: a long
one inside the rebalance would outlast the session, get this member evicted and start the next rebalance, and with
it the next rebuild.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import faust
from faust.types import TP

C = TypeVar("C")
Then = Callable[[], Awaitable[None]] | None


class PartitionOwner(Generic[C]):
    def __init__(self, app: faust.App, topic: str) -> None:
        self.app, self.topic = app, topic
        self._ready: dict[int, asyncio.Event] = {}
        self._epochs: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)

    def bind(self, rebuild: Callable[[list[int], dict[int, int]], C], adopt: Callable[[C, set[int]], Then],
             drop: Callable[[set[int]], None]) -> None:
        """``rebuild(partitions, committed offsets)`` runs in a thread; ``adopt(rebuilt, partitions)`` takes its
        state over and may return what to do once those partitions are open (send commands again, say); ``drop``
        forgets the state of partitions that left. Bound before the app starts."""
        self._rebuild, self._adopt, self._drop = rebuild, adopt, drop

    def gate(self, partition: int) -> asyncio.Event:
        """Set once the partition's state is adopted: its records wait for it (faust may start the stream first)."""
        return self._ready.setdefault(partition, asyncio.Event())

    def _close(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._epochs[partition] = self._epochs.get(partition, 0) + 1
            self.gate(partition).clear()
        self._drop(partitions)

    async def _open(self, fresh: list[int], offsets: dict[int, int], started: dict[int, int]) -> None:
        rebuilt = await asyncio.to_thread(self._rebuild, fresh, offsets)
        current = {p for p in fresh if self._epochs.get(p) == started[p]}
        then = self._adopt(rebuilt, current)
        for partition in current:
            self.gate(partition).set()
        if then is not None:
            await then()

    async def _on_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        self._close({tp.partition for tp in revoked if tp.topic == self.topic})

    async def _on_assigned(self, sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == self.topic)
        self._close(set(self._ready) - set(mine))
        fresh = [p for p in mine if not self.gate(p).is_set()]
        if not fresh:
            return
        # the group's committed offsets as this consumer sees them: the stream resumes from exactly there
        committed = await self.app.consumer.seek_to_committed()
        offsets = {tp.partition: offset or 0 for tp, offset in committed.items() if tp.topic == self.topic}
        # a partition the group never committed keeps the position this consumer had fetched to before the
        # rebalance, while faust drops the records it had buffered but not handled: read it from its start
        # (offset 0: where the log starts, or the earliest offset kept if retention removed the start)
        never = {TP(self.topic, partition): 0 for partition in fresh if not offsets.get(partition)}
        if never:
            await self.app.consumer.seek_wait(never)  # in the consumer's own thread, and waited for
        for partition in fresh:
            self._epochs[partition] = self._epochs.get(partition, 0) + 1
        task = asyncio.create_task(self._open(fresh, offsets, {p: self._epochs[p] for p in fresh}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
