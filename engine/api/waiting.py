"""Waiting without holding a request thread: read-your-writes waits and log followers are coroutines, so a
crowd of them cannot starve the thread pool that plain requests (and /healthz) run on.

``ProjectedPositions`` reads the projector's stored positions once for every waiter (one query per tick while
anyone waits, not one per waiter); ``FollowerLimit`` caps how many log streams one client holds open."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping

import psycopg

Positions = Mapping[tuple[str, int], int]  # (topic, partition) -> next offset the projector will write
TICK_S = 0.02


class ProjectedPositions:
    def __init__(self, read: Callable[[], Positions]) -> None:
        self.read = read
        self.positions: Positions = {}
        self.changed: asyncio.Condition | None = None
        self.waiters = 0
        self.poller: asyncio.Task[None] | None = None

    async def reached(self, topic: str, partition: int, offset: int, timeout: float) -> bool:
        """Whether the projector passed ``offset`` within ``timeout``; False also while PostgreSQL is away."""
        if self.changed is None:
            self.changed = asyncio.Condition()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiters += 1
        if self.poller is None or self.poller.done():
            self.poller = asyncio.create_task(self._poll())
        try:
            async with self.changed:
                while self.positions.get((topic, partition), 0) <= offset:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return False
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(), remaining)
                return True
        finally:
            self.waiters -= 1

    async def _poll(self) -> None:
        assert self.changed is not None
        while self.waiters > 0:
            try:
                positions = await asyncio.to_thread(self.read)
            except psycopg.Error:
                positions = None  # the waiters run out their time and answer "not projected"
            if positions is not None:
                async with self.changed:
                    self.positions = positions
                    self.changed.notify_all()
            await asyncio.sleep(TICK_S)


class TooManyFollowers(Exception):
    pass


class FollowerLimit:
    """At most ``limit`` open log streams per client address. A stream counts while its generator is alive and
    not finished, so one the server dropped before it started (a client gone at once) frees its place too."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, weakref.WeakSet[AsyncGenerator[str, None]]] = {}

    def take(self, client: str, stream: AsyncGenerator[str, None]) -> None:
        streams = self.open.setdefault(client, weakref.WeakSet())
        for done in [s for s in streams if s.ag_frame is None]:  # finished or closed
            streams.discard(done)
        if len(streams) >= self.limit:
            raise TooManyFollowers(client)
        streams.add(stream)
