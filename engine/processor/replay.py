"""Reading a partition of a topic from the start up to an offset (rebuild after assignment, audits)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from engine.config import Settings
from engine.kafka import HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC, consumer_config, positions_reached

STALL_TIMEOUT_S = 30.0
SETTLE_S = 0.5


Headers = list[tuple[str, bytes | None]]


def read_partition(settings: Settings, topic: str, partition: int, end: int | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record up to ``end``, as ``read_records`` reads them."""
    for offset, key, value, _headers in read_records(settings, topic, partition, end):
        yield offset, key, value


def read_records(settings: Settings, topic: str, partition: int, end: int | None = None,
                 ) -> Iterator[tuple[int, bytes | None, bytes | None, Headers]]:
    """(offset, key, value, headers) of every record from the start up to ``end`` (exclusive), or, without
    ``end``, up to the end of the partition: past the reported high watermark until nothing more arrives for a
    moment (some brokers report it short for batched records, so it is a lower bound here, not the end)."""
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}",
                                        **{"enable.auto.commit": False}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if end is not None and end <= low:
            return
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        position = low
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


def dead_lettered(settings: Settings, topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every record of ``topic`` that went to the dead-letter topic."""
    out: set[tuple[int, int]] = set()
    dlq = settings.deadletter_topic
    for dlq_partition, high in high_watermarks(settings, dlq).items():
        # up to the high watermark as reported: what was dead-lettered before the offsets being rebuilt to were
        # committed is below it (and most partitions of this topic are empty: no settling wait for them)
        if high == 0:
            continue
        for _offset, _key, _value, headers in read_records(settings, dlq, dlq_partition, end=high):
            found = dict(headers)
            if found.get(HEADER_TOPIC) == topic.encode():
                with contextlib.suppress(TypeError, ValueError):
                    out.add((int(found[HEADER_PARTITION] or b""), int(found[HEADER_OFFSET] or b"")))
    return out


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
