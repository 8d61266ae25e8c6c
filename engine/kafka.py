"""Kafka plumbing shared by every process: client settings, topic creation, dead-lettering."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from engine.config import Settings

# Every producer must place a key on the partition the engine (aiokafka, murmur2) expects: all events of one
# execution share a partition, and heartbeats are co-partitioned with executions.
PARTITIONER = "murmur2_random"

HEADER_REASON = "kafkaban.reason"
HEADER_TOPIC = "kafkaban.source.topic"
HEADER_PARTITION = "kafkaban.source.partition"
HEADER_OFFSET = "kafkaban.source.offset"


# the largest record a producer sends (librdkafka's message.max.bytes default, under the broker's 1 MiB), and what
# the batch framing, key and headers take of it: a value must fit in the difference
MAX_RECORD_BYTES = 1_000_000
RECORD_OVERHEAD_BYTES = 4_096


def fits_in_a_record(value: bytes) -> bool:
    return len(value) <= MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    # idempotence: a produce retried after a broker failover is not appended twice (and implies acks=all)
    return {"bootstrap.servers": settings.require_bootstrap(), "partitioner": PARTITIONER, "linger.ms": 2,
            "enable.idempotence": settings.idempotent_producers, "acks": "all",
            "message.max.bytes": MAX_RECORD_BYTES, **extra}


def consumer_config(settings: Settings, group: str, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": settings.require_bootstrap(), "group.id": group,
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": max(settings.session_timeout_ms // 5, 500),
            # a broker that holds a fetch for its whole wait (tansu does) would add this much to every hop
            "fetch.wait.max.ms": settings.fetch_wait_ms,
            "auto.offset.reset": "earliest", **extra}


def ensure_topics(settings: Settings, topics: Iterable[str], timeout: float = 30.0) -> None:
    """Create the topics that do not exist yet, with the configured partition count; wait until they exist."""
    admin = AdminClient({"bootstrap.servers": settings.require_bootstrap()})
    wanted = set(topics)
    deadline = time.monotonic() + timeout
    while True:
        existing = set(admin.list_topics(timeout=10).topics)
        missing = sorted(wanted - existing)
        if not missing:
            return
        futures = admin.create_topics([NewTopic(t, settings.partitions, settings.replication) for t in missing])
        for _topic, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout} s: {missing}")
        time.sleep(0.1)


def positions_reached(consumer: Consumer, ends: Mapping[tuple[str, int], int]) -> set[tuple[str, int]]:
    """The (topic, partition)s of ``ends`` whose consumer position has reached the given end offset.

    Read-to-end loops ask this when a poll brings nothing: under exactly_once a log holds transaction markers and
    aborted records, which are never delivered, so the offset after the last record received can stay short of
    the end for good; the position steps over them."""
    if not ends:
        return set()
    positions = consumer.position([TopicPartition(topic, partition) for topic, partition in ends])
    return {(tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]}


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [(HEADER_REASON, reason.encode()), (HEADER_TOPIC, topic.encode()),
            (HEADER_PARTITION, str(partition).encode()), (HEADER_OFFSET, str(offset).encode())]


def send_dead_letter(producer: Producer, settings: Settings, key: bytes | None, value: bytes | None, reason: str,
                     topic: str, partition: int, offset: int) -> None:
    producer.produce(settings.deadletter_topic, key=key, value=value,
                     headers=dead_letter_headers(reason, topic, partition, offset))
