"""Reading a partition of a topic from the start up to an offset (rebuild after assignment, audits)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config, positions_reached

STALL_TIMEOUT_S = 30.0
SETTLE_S = 0.5


def read_partition(settings: Settings, topic: str, partition: int, end: int | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the start up to ``end`` (exclusive), or, without ``end``, up to
    the end of the partition: past the reported high watermark until nothing more arrives for a moment (some
    brokers report it short for batched records, so it is a lower bound here, not the end)."""
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
                yield offset, message.key(), message.value()
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
