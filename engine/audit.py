"""The audit path that needs no PostgreSQL: an execution's history straight from the executions log."""

from __future__ import annotations

from dataclasses import dataclass

from engine.codec.admission import Refused, admit
from engine.config import Settings
from engine.domain import events as ev
from engine.processor.replay import partitions_of, read_records


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (as the Java client and librdkafka's murmur2 partitioner compute it), unsigned 32-bit."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class LoggedEvent:
    partition: int
    offset: int
    event: ev.Event


def history_from_kafka(settings: Settings, execution_id: str) -> list[LoggedEvent]:
    """Every event of the execution, in log order, read from its partition of the executions topic."""
    topic = settings.executions_topic
    partitions = partitions_of(settings, topic)
    if not partitions:
        return []
    partition = partition_for(execution_id.encode(), len(partitions))
    out: list[LoggedEvent] = []
    key = execution_id.encode()
    for offset, record_key, value, headers in read_records(settings, topic, partition):
        if record_key != key:
            continue
        try:
            event = admit(record_key, value, headers, settings.require_signing_key(), settings.schema_registry_url)
        except Refused:
            continue
        if event.execution_id == execution_id:
            out.append(LoggedEvent(partition, offset, event))
    return out
