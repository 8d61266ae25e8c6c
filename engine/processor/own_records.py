"""The engine's own derived events, recognised when it reads them back.

An event the engine decided was applied to its state when it was decided; reading it back must change nothing.
Each is written with its id in a header and remembered per partition until it comes back, so it is skipped
without decoding or verifying (a third of the engine's time went to decoding its own events). Another instance's
events (after a rebalance) and anything this instance no longer remembers are decoded and folded as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.codec.admission import header

EVENT_ID_HEADER = "kafkaban.event_id"


class OwnRecords:
    def __init__(self) -> None:
        self._written: dict[int, set[bytes]] = {}

    @staticmethod
    def header(event_id: str) -> tuple[str, bytes]:
        return (EVENT_ID_HEADER, event_id.encode())

    def remember(self, partition: int, event_ids: Iterable[str]) -> None:
        self._written.setdefault(partition, set()).update(e.encode() for e in event_ids)

    def read_back(self, partition: int, headers: Any) -> bool:
        """True, once, for a record this instance wrote and applied: skip it."""
        own = header(headers, EVENT_ID_HEADER)
        mine = self._written.get(partition)
        if own is None or mine is None or own not in mine:
            return False
        mine.discard(own)
        return True

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._written.pop(partition, None)
