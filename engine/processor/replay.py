"""Reading a partition of a topic from the start up to an offset (rebuild after assignment, audits), and the
dead-letter topic (what a rebuild skips, what the API lists)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config, dead_letter_origin, positions_reached

STALL_TIMEOUT_S = 30.0
SETTLE_S = 0.5


Headers = list[tuple[str, bytes | None]]


def read_partition(settings: Settings, topic: str, partition: int, end: int | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record up to ``end``, as ``read_records`` reads them."""
    for offset, key, value, _headers in read_records(settings, topic, partition, end):
        yield offset, key, value


def read_records(settings: Settings, topic: str, partition: int, end: int | None = None, start: int = 0,
                 ) -> Iterator[tuple[int, bytes | None, bytes | None, Headers]]:
    """(offset, key, value, headers) of every record from ``start`` (the partition's start by default) up to
    ``end`` (exclusive), or, without ``end``, up to the end of the partition: past the reported high watermark
    until nothing more arrives for a moment (some brokers report it short for batched records, so it is a lower
    bound here, not the end)."""
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}",
                                        **{"enable.auto.commit": False}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        position = max(low, start)
        if end is not None and end <= position:
            return
        consumer.assign([TopicPartition(topic, partition, position if position > low else OFFSET_BEGINNING)])
        idle_since = time.monotonic()
        while True:
            batch = consumer.consume(1000, timeout=0.2)
            if batch:
                idle_since = time.monotonic()
            else:
                target = end if end is not None else high
                if positions_reached(consumer, {(topic, partition): target}):
                    position = max(position, target)
                if end is not None and position >= end:
                    return
                idle = time.monotonic() - idle_since
                if end is None and position >= high and idle >= SETTLE_S:
                    return
                if idle > STALL_TIMEOUT_S:
                    raise RuntimeError(f"reading {topic}[{partition}]: no records for {STALL_TIMEOUT_S} s at "
                                       f"offset {position}")
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"reading {topic}[{partition}]: {error}")
                offset = message.offset()
                if end is not None and offset >= end:
                    return
                position = offset + 1
                yield offset, message.key(), message.value(), message.headers() or []
                if end is not None and position >= end:
                    return
    finally:
        consumer.close()


def partitions_of(settings: Settings, topic: str) -> list[int]:
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        return sorted(metadata.partitions) if metadata and metadata.error is None else []
    finally:
        consumer.close()


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
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}",
                                        **{"enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=left(10)).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return  # not created yet: nothing was dead-lettered
        ends: dict[tuple[str, int], int] = {}
        starts = []
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=left(10))
            start = low if newest is None else max(low, high - newest)
            if start < high:  # most partitions of this topic are empty: nothing to wait for on them
                ends[(topic, partition)] = high
                starts.append(TopicPartition(topic, partition, start))
        if not starts:
            return
        consumer.assign(starts)
        idle_since = time.monotonic()
        while ends:
            batch = consumer.consume(1000, timeout=left(0.2))
            if batch:
                idle_since = time.monotonic()
            else:
                # transaction markers and aborted records are never delivered: the position steps over them
                for done in positions_reached(consumer, ends):
                    del ends[done]
                if ends and time.monotonic() - idle_since > STALL_TIMEOUT_S:
                    raise TimeoutError(f"reading {topic}: no records for {STALL_TIMEOUT_S} s short of {ends}")
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(f"reading {topic}: {error}")
                where, offset = (topic, message.partition()), message.offset()
                if where not in ends or offset >= ends[where]:
                    continue  # dead-lettered after the read started
                if offset + 1 >= ends[where]:
                    del ends[where]
                kind, stamp = message.timestamp()
                reason, source_topic, source_partition, source_offset = dead_letter_origin(message.headers() or [])
                yield DeadLetter(message.partition(), offset, stamp if kind != TIMESTAMP_NOT_AVAILABLE else None,
                                 message.key(), message.value(), reason, source_topic, source_partition,
                                 source_offset)
    finally:
        consumer.close()


def dead_lettered(settings: Settings, topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every record of ``topic`` that went to the dead-letter topic: what was dead-lettered
    before the offsets being rebuilt to were committed is below the high watermark when the read starts."""
    return {(letter.source_partition, letter.source_offset) for letter in read_dead_letters(settings)
            if letter.source_topic == topic and letter.source_partition is not None
            and letter.source_offset is not None}


def high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}"))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {p: int(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                for p in sorted(metadata.partitions)}
    finally:
        consumer.close()
