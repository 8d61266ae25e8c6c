"""Snapshots of the engine's partitions, so that taking a partition over costs what happened since its last
snapshot, not its whole history (docs/DESIGN.md, "Snapshots").

The topic ``<prefix>.snapshots`` is compacted and co-partitioned with the executions: partition p holds, per
execution of executions partition p, the latest of its state, how it ended (its state let go), or a tombstone (its
id forgotten too); and one marker record saying which executions offset the records before it cover, with how
many states and ended ids the partition had then. A snapshot is an optimisation, never the truth: a partition
without one, with one that does not decode, whose counts do not match its marker, or that is ahead of the group's
committed offset is refolded from the log's start, with a warning.

A snapshot is taken in the fold loop right after a batch's events and commands were delivered, so it holds no
decision the log lacks, and published only once the group's committed offset has reached it: under exactly_once
a delivered record is not yet committed, and a snapshot of an aborted batch would hide the batch's decisions
from the records read again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from engine.clock import now_ms
from engine.codec.state_snapshot import SnapshotError, decode, encode, state_from_snapshot, state_to_snapshot
from engine.config import Settings
from engine.domain.state import ExecutionState
from engine.kafka import MAX_RECORD_BYTES, admin_config, consumer_config, ensure_topics, producer_config
from engine.log_reader import read_records
from engine.processor.core import Kept

log = logging.getLogger("kafkaban.engine.snapshots")
MARKER = b"\x00covered"  # no execution id holds a NUL, so the marker's key is no execution's
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    # small segments, so that compaction reaches the records a busy engine writes within minutes, not days
    "segment.ms": str(5 * 60_000),
    "segment.bytes": str(16 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.1",
    "max.message.bytes": str(MAX_RECORD_BYTES + 64 * 1024),
}


@dataclass
class Snapshot:
    offset: int  # the executions offset the snapshot covers: records from here on are refolded
    states: dict[str, ExecutionState]
    ended: dict[str, str]


def ensure_topic(settings: Settings, partitions: int) -> int:
    """Create the snapshots topic with as many partitions as the executions topic; returns how many it has (a
    topic made elsewhere with fewer leaves the partitions beyond without snapshots)."""
    topic = settings.snapshots_topic
    ensure_topics(settings, [topic], partitions=partitions, config=TOPIC_CONFIG)
    found = AdminClient(admin_config(settings)).list_topics(topic, timeout=10).topics.get(topic)
    count = len(found.partitions) if found is not None and found.error is None else 0
    if count < partitions:
        log.warning("%s has %d partitions and the executions topic %d: partitions %d and up are refolded from "
                    "the log on every takeover", topic, count, partitions, count)
    return count


def load(settings: Settings, partition: int) -> Snapshot | None:
    """The latest snapshot of ``partition``, or None when there is none or it cannot be trusted (said in a
    warning: the caller refolds the log)."""
    topic = settings.snapshots_topic
    latest: dict[bytes, bytes | None] = {}
    marker: bytes | None = None
    after_marker = False
    # to the high watermark, without settling: a capture its previous owner is still writing is either past it
    # (the last marker read is whole) or cut by it, and then refused below as records after the last marker
    for _offset, key, value, _headers in read_records(settings, topic, partition, settle=0):
        if key == MARKER:
            marker, after_marker = value, False
        elif key is not None:
            latest[key] = value
            after_marker = True
    if marker is None:
        if latest:
            log.warning("%s[%d] has records but no marker (a first snapshot cut short): refolding the log from its "
                        "start", topic, partition)
        return None
    try:
        if after_marker:
            # a capture cut short between its records and its marker: some records are newer than the marker
            raise SnapshotError("records follow the last marker")
        covered = decode(marker)
        states: dict[str, ExecutionState] = {}
        ended: dict[str, str] = {}
        for key, value in latest.items():
            if value is None:
                continue
            record = decode(value)
            if "state" in record:
                state = state_from_snapshot(record["state"])
                if state.execution_id != key.decode():
                    raise SnapshotError(f"record {key!r} holds the state of {state.execution_id}")
                states[state.execution_id] = state
            elif isinstance(record.get("ended"), str):
                ended[key.decode()] = record["ended"]
            else:
                raise SnapshotError(f"record {key!r} is neither a state nor an end")
        counts = (covered.get("states"), covered.get("ended"))
        if counts != (len(states), len(ended)):
            raise SnapshotError(f"the marker counts {counts[0]} states and {counts[1]} ended ids, the records "
                                f"hold {len(states)} and {len(ended)}")
        offset = covered.get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise SnapshotError(f"marker offset {offset!r}")
    except (SnapshotError, UnicodeDecodeError) as exc:
        log.warning("the snapshot of %s[%d] cannot be used (%s): refolding the log from its start", topic, partition,
                    exc)
        return None
    return Snapshot(offset, states, ended)


def records_of(entries: Iterable[tuple[str, Kept]]) -> list[tuple[bytes, bytes | None]]:
    out: list[tuple[bytes, bytes | None]] = []
    for execution_id, kept in entries:
        if kept is None:
            value = None
        elif isinstance(kept, str):
            value = encode({"ended": kept})
        else:
            value = encode({"state": state_to_snapshot(kept)})
        out.append((execution_id.encode(), value))
    return out


@dataclass
class Capture:
    partition: int
    offset: int
    entries: list[tuple[str, Kept]]  # immutable values: encoded in the publishing thread, off the event loop
    states: int
    ended: int
    taken_at: int = field(default_factory=now_ms)


class SnapshotWriter:
    """Takes captures of partitions and publishes each once the group's committed offset covers it."""

    def __init__(self, settings: Settings, group: str, partitions: int) -> None:
        self.settings, self.group, self.partitions = settings, group, partitions
        self.interval_s = settings.snapshot_interval_s
        self.pending: list[Capture] = []
        self._last: dict[int, float] = {}
        self._captured: dict[int, int] = {}  # partition -> offset of its last capture
        self._producer: Producer | None = None
        self._offsets: Consumer | None = None
        self._too_big_warned: set[int] = set()
        self.published = 0

    def due(self, partition: int) -> bool:
        if self.interval_s <= 0 or partition >= self.partitions:
            return False
        return time.monotonic() - self._last.get(partition, 0.0) >= self.interval_s

    def capture(self, partition: int, offset: int, take: Callable[[], list[tuple[str, Kept]]],
                counts: tuple[int, int]) -> None:
        self._last[partition] = time.monotonic()
        entries = take()
        if not entries and self._captured.get(partition) == offset:
            return  # nothing happened since the last capture
        self._captured[partition] = offset
        self.pending.append(Capture(partition, offset, entries, *counts))

    def forget(self, partitions: set[int]) -> None:
        """Partitions that left: their captures are the next owner's to make."""
        self.pending = [c for c in self.pending if c.partition not in partitions]
        for partition in partitions:
            self._last.pop(partition, None)
            self._captured.pop(partition, None)

    async def publish_due(self, owned: Callable[[int], bool]) -> int:
        """Publish every capture the group's committed offsets cover, of partitions still ``owned``; the Kafka
        calls run in a thread. Returns how many were published."""
        if not self.pending:
            return 0
        committed = await asyncio.to_thread(self._committed, {c.partition for c in self.pending})
        ready = [c for c in self.pending if committed.get(c.partition, -1) >= c.offset]
        if not ready:
            return 0
        self.pending = [c for c in self.pending if c not in ready]
        published = 0
        for capture in ready:
            # a partition that left meanwhile is its next owner's to snapshot: an older capture of ours landing
            # after its newer one would mix the two
            if owned(capture.partition):
                published += await asyncio.to_thread(self._publish, capture)
        return published

    def _committed(self, partitions: set[int]) -> dict[int, int]:
        # a consumer of the group that never subscribes (so never joins it) asks for the commits: the admin
        # client's ListConsumerGroupOffsets crashed the process (librdkafka 2.15 and 2.16, SIGSEGV in its main
        # thread) when the group coordinator's node was killed while it waited
        if self._offsets is None:
            self._offsets = Consumer(consumer_config(self.settings, self.group, **{"enable.auto.commit": False}))
        topic = self.settings.executions_topic
        try:
            answer = self._offsets.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=10)
        except KafkaException as exc:
            log.warning("cannot read the committed offsets of %s (%s): snapshots wait", self.group, exc)
            return {}
        return {tp.partition: tp.offset for tp in answer if tp.error is None}

    def _publish(self, capture: Capture) -> bool:
        if self._producer is None:
            self._producer = Producer(producer_config(self.settings, **{"compression.type": "lz4"}))
        topic = self.settings.snapshots_topic
        records = records_of(capture.entries)
        too_big = [key for key, value in records if value is not None and len(value) > MAX_RECORD_BYTES]
        if too_big:
            if capture.partition not in self._too_big_warned:
                self._too_big_warned.add(capture.partition)
                log.warning("the state of %s is over %d bytes: partition %d is not snapshotted while it lives",
                            too_big[0].decode(), MAX_RECORD_BYTES, capture.partition)
            return False
        failed: list[str] = []

        def delivered(error: object, message: object) -> None:
            if error is not None:
                failed.append(str(error))

        for key, value in records:
            self._send(topic, capture.partition, key, value, delivered)
        self._producer.flush(30)
        if failed:  # the marker must not vouch for records that are not there
            log.warning("snapshot of partition %d not published: %s", capture.partition, failed[0])
            return False
        marker = encode({"offset": capture.offset, "states": capture.states, "ended": capture.ended,
                         "taken_at": capture.taken_at})
        self._send(topic, capture.partition, MARKER, marker, delivered)
        self._producer.flush(30)
        if failed:
            return False
        self.published += 1
        log.debug("snapshot of partition %d at offset %d: %d records", capture.partition, capture.offset,
                  len(records))
        return True

    def _send(self, topic: str, partition: int, key: bytes, value: bytes | None,
              delivered: Callable[[object, object], None]) -> None:
        assert self._producer is not None
        while True:
            try:
                self._producer.produce(topic, key=key, value=value, partition=partition, on_delivery=delivered)
                return
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.05)

