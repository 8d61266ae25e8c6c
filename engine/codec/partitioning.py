"""Which partition a key belongs on: Kafka's murmur2 partitioner, as the Java client's default and librdkafka's
``murmur2_random`` compute it. Every reader folds an entity's events from this partition only, whatever
partitioner wrote them (see admission.py)."""

from __future__ import annotations

from typing import NamedTuple


class Placement(NamedTuple):
    """Where a record was read: its partition and how many partitions its topic has."""

    partition: int
    partitions: int


def murmur2(data: bytes) -> int:
    """Kafka's murmur2, unsigned 32-bit."""
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
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
