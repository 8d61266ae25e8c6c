"""Reading partitions to their end: the one loop every reader of the log uses (the engine's rebuild and snapshots,
the audit, the follower, the projections' rebuild and verify), and the dead-letter topic read with it (what a
rebuild skips, what the API lists).

Two kinds of end. An end given per partition (a committed offset, a high watermark read when the read began) is
exclusive and exact: the read stops once every partition's position reaches it, which also steps over
transaction markers and aborted records (under exactly_once the offset after the last record delivered can stay
short of the end for good). Without one, the end is "what is there now": past the high watermark reported at the
start until nothing arrives for SETTLE_S (some brokers report it short for batched records, so it is a lower
bound, not the end). Either way a read that receives nothing for STALL_TIMEOUT_S short of its end raises
``StalledRead``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Message, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config, dead_letter_origin, positions_reached

STALL_TIMEOUT_S = 30.0
SETTLE_S = 0.5
Where = tuple[str, int]  # topic, partition
Headers = list[tuple[str, bytes | None]]


class StalledRead(TimeoutError):
    """Nothing arrived for STALL_TIMEOUT_S (or the caller's deadline passed) before the end was reached."""


def reader(settings: Settings, **extra: Any) -> Consumer:
    """A consumer of a group of its own that commits nothing: readers never move anyone's offsets."""
    return Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}",
                                    **{"enable.auto.commit": False, **extra}))


def partitions_of(settings: Settings, topic: str) -> list[int]:
    consumer = reader(settings)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        return sorted(metadata.partitions) if metadata and metadata.error is None else []
    finally:
        consumer.close()


def high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    consumer = reader(settings)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                for p in sorted(metadata.partitions)}
    finally:
        consumer.close()


def read_to_end(consumer: Consumer, starts: Mapping[Where, int], ends: Mapping[Where, int] | None = None,
                batch: int = 1000, deadline: float | None = None, settle: float = SETTLE_S,
                ) -> Iterator[list[Message]]:
    """Batches of the records of ``starts``' partitions, each from its start offset, up to ``ends`` (exclusive;
    None: to the end as it is now, see the module). ``consumer`` is the caller's (it owns and closes it);
    ``deadline`` is a ``time.monotonic()`` past which the read raises StalledRead; ``settle`` (without ``ends``)
    is how long nothing must arrive past the high watermark: 0 for a reader that takes the watermark as the end."""
    lows: dict[Where, int] = {}
    highs: dict[Where, int] = {}
    for where in starts:
        lows[where], highs[where] = consumer.get_watermark_offsets(TopicPartition(*where), timeout=10)
    exact = ends is not None
    targets = {w: (ends[w] if ends is not None else highs[w]) for w in starts if ends is None or w in ends}
    begin = {w: max(lows[w], starts[w]) for w in targets}
    remaining = {w: end for w, end in targets.items() if end > begin[w]}
    if not remaining and (exact or settle <= 0):
        return
    consumer.assign([TopicPartition(*w, begin[w] if begin[w] > lows[w] else OFFSET_BEGINNING) for w in targets])
    idle_since = time.monotonic()
    while True:
        wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
        if wait <= 0:
            raise StalledRead(f"reading {sorted(remaining)}: not done by the deadline")
        messages = consumer.consume(batch, timeout=wait)
        if messages:
            idle_since = time.monotonic()
        else:
            for done in positions_reached(consumer, remaining):
                del remaining[done]
            idle = time.monotonic() - idle_since
            if not remaining and (exact or idle >= settle):
                return
            if idle > STALL_TIMEOUT_S:
                raise StalledRead(f"no records for {STALL_TIMEOUT_S} s short of {remaining}")
        out = []
        for message in messages:
            error = message.error()
            if error is not None:
                # end-of-partition is only a hint (a broker may report it early): the end offsets decide
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"reading {message.topic()}[{message.partition()}]: {error}")
            where, offset = (message.topic(), message.partition()), message.offset()
            if exact and (where not in targets or offset >= targets[where]):
                continue  # written after the end the caller asked for
            if where in remaining and offset + 1 >= remaining[where]:
                del remaining[where]
            out.append(message)
        if out:
            yield out
        if not remaining and (exact or settle <= 0):
            return


def read_records(settings: Settings, topic: str, partition: int, end: int | None = None, start: int = 0,
                 settle: float = SETTLE_S) -> Iterator[tuple[int, bytes | None, bytes | None, Headers]]:
    """(offset, key, value, headers) of one partition's records from ``start`` (its first by default) up to
    ``end`` (exclusive), or without ``end`` to the end as it is now (``settle``: see ``read_to_end``)."""
    consumer = reader(settings)
    try:
        where = (topic, partition)
        for messages in read_to_end(consumer, {where: start}, None if end is None else {where: end},
                                    settle=settle):
            for message in messages:
                yield message.offset(), message.key(), message.value(), message.headers() or []
    finally:
        consumer.close()


def read_partition(settings: Settings, topic: str, partition: int, end: int | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record up to ``end``, as ``read_records`` reads them."""
    for offset, key, value, _headers in read_records(settings, topic, partition, end):
        yield offset, key, value


@dataclass(frozen=True)
class DeadLetter:
    """A record of the dead-letter topic and what its headers say: why it was refused, where it came from."""

    partition: int
    offset: int
    timestamp_ms: int | None  # the record's timestamp: when it was dead-lettered (None if the broker kept none)
    key: bytes | None
    value: bytes | None
    reason: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None


def read_dead_letters(settings: Settings, newest: int | None = None, timeout: float | None = None,
                      ) -> Iterator[DeadLetter]:
    """The dead-letter topic up to each partition's high watermark as reported when the read starts: every record,
    or the ``newest`` of each partition; in offset order within a partition. One consumer assigned to every
    partition (no group, nothing committed). TimeoutError past ``timeout`` seconds, or when no record comes for
    STALL_TIMEOUT_S."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def left(cap: float) -> float:
        if deadline is None:
            return cap
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"reading {topic}: not done within {timeout} s")
        return min(cap, remaining)

    topic = settings.deadletter_topic
    consumer = reader(settings)
    try:
        metadata = consumer.list_topics(topic, timeout=left(10)).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return  # not created yet: nothing was dead-lettered
        ends: dict[Where, int] = {}
        starts: dict[Where, int] = {}
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=left(10))
            start = low if newest is None else max(low, high - newest)
            if start < high:  # most partitions of this topic are empty: nothing to wait for on them
                ends[(topic, partition)] = high
                starts[(topic, partition)] = start
        if not starts:
            return
        for messages in read_to_end(consumer, starts, ends, deadline=deadline):
            for message in messages:
                kind, stamp = message.timestamp()
                reason, source_topic, source_partition, source_offset = dead_letter_origin(message.headers() or [])
                yield DeadLetter(message.partition(), message.offset(),
                                 stamp if kind != TIMESTAMP_NOT_AVAILABLE else None, message.key(), message.value(),
                                 reason, source_topic, source_partition, source_offset)
    finally:
        consumer.close()


def dead_lettered(settings: Settings, topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every record of ``topic`` that went to the dead-letter topic: what was dead-lettered
    before the offsets being rebuilt to were committed is below the high watermark when the read starts."""
    return {(letter.source_partition, letter.source_offset) for letter in read_dead_letters(settings)
            if letter.source_topic == topic and letter.source_partition is not None
            and letter.source_offset is not None}
