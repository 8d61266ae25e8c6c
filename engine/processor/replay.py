"""Reading a partition of a topic from the start up to an offset (rebuild after assignment, audits)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config


def committed_offsets(settings: Settings, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """The group's committed offset of each partition (0 where it has none)."""
    consumer = Consumer(consumer_config(settings, group, **{"enable.auto.commit": False}))
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in found}
    finally:
        consumer.close()


def read_partition(settings: Settings, topic: str, partition: int, end: int | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the start up to ``end`` (exclusive; None: the current end)."""
    consumer = Consumer(consumer_config(settings, f"kafkaban-reader-{uuid.uuid4()}",
                                        **{"enable.auto.commit": False, "enable.partition.eof": True}))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        stop = high if end is None else min(end, high)
        if stop <= low:
            return
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        while True:
            batch = consumer.consume(1000, timeout=1.0)
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    raise RuntimeError(f"reading {topic}[{partition}]: {error}")
                offset = message.offset()
                if offset >= stop:
                    return
                yield offset, message.key(), message.value()
                if offset + 1 >= stop:
                    return
    finally:
        consumer.close()
