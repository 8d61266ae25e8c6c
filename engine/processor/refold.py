"""Rebuilding a topic's partitions on assignment: each partition's records folded up to the group's committed
offset (later records are processed as they come), into a core built apart from the live one so that the two
never share a structure. Both topics fold what their live path accepted: admitted records, less those the engine
dead-lettered. Executions start from their partition's snapshot where there is a usable one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from engine.clock import now_ms
from engine.codec.admission import Headers, Refused, admit, admit_schedule
from engine.codec.partitioning import Placement
from engine.config import Settings
from engine.log_reader import dead_lettered, partitions_of, read_records
from engine.processor.core import EngineCore
from engine.processor.schedule_core import ScheduleCore
from engine.processor.snapshots import load

log = logging.getLogger("kafkaban.engine")
EVICT_EVERY = 10_000  # records folded between evictions during a rebuild: memory stays that of the live ones
E = TypeVar("E")
Admit = Callable[[bytes | None, bytes | None, Headers, Placement], E]


class Admitted:
    """The records of one topic that the live path accepted, partition by partition."""

    def __init__(self, settings: Settings, topic: str, admit_one: Admit[E]) -> None:
        self.settings, self.topic, self.admit_one = settings, topic, admit_one
        self.refused = dead_lettered(settings, topic)
        self.count = len(partitions_of(settings, topic))  # a key's partition depends on the topic's count

    def events(self, partition: int, start: int, end: int) -> Iterator[E]:
        placement = Placement(partition, self.count)
        for offset, key, value, headers in read_records(self.settings, self.topic, partition, end=end, start=start):
            if (partition, offset) in self.refused:
                continue
            try:
                yield self.admit_one(key, value, headers, placement)
            except Refused:
                continue  # dead-lettered when it was first read, or (misplaced) forwarded and folded from the copy


def new_core(settings: Settings) -> EngineCore:
    return EngineCore(dispatch_timeout_ms=int(settings.dispatch_timeout_s * 1000),
                      ended_grace_ms=int(settings.ended_grace_s * 1000), ended_kept=settings.ended_kept,
                      snapshots=settings.snapshot_interval_s > 0)


def rebuild_executions(settings: Settings, partitions: list[int], offsets: dict[int, int]) -> EngineCore:
    """The executions of ``partitions``: from each one's snapshot, else from the log's start."""
    topic = settings.executions_topic
    key, registry = settings.require_signing_key(), settings.schema_registry_url
    admitted = Admitted(settings, topic, lambda k, v, h, placement: admit(k, v, h, key, registry, placement))
    now = now_ms()
    rebuilt = new_core(settings)
    total = 0
    started = time.monotonic()
    starts: dict[int, int] = {}
    for partition in partitions:
        end = offsets.get(partition, 0)
        snapshot = load(settings, partition) if settings.snapshot_interval_s > 0 else None
        if snapshot is not None and snapshot.offset > end:
            log.warning("the snapshot of %s[%d] covers offset %d, past the group's committed %d: refolding the log "
                        "from its start", settings.snapshots_topic, partition, snapshot.offset, end)
            snapshot = None
        if snapshot is not None:
            rebuilt.load(partition, snapshot.states, snapshot.ended, now)
        starts[partition] = snapshot.offset if snapshot is not None else 0
        for event in admitted.events(partition, starts[partition], end):
            rebuilt.fold_only(event, partition, now)
            total += 1
            if total % EVICT_EVERY == 0:
                rebuilt.evict(now)
    rebuilt.evict(now)
    log.info("rebuilt partitions %s of %s from %d events in %.1f s (from offsets %s, committed offsets %s)",
             partitions, topic, total, time.monotonic() - started, starts, offsets)
    return rebuilt


def rebuild_schedules(settings: Settings, partitions: list[int], offsets: dict[int, int]) -> ScheduleCore:
    """The schedules of ``partitions``, from the log's start."""
    topic = settings.schedules_topic
    key, registry = settings.signing_key(), settings.schema_registry_url
    admitted = Admitted(settings, topic,
                        lambda k, v, h, placement: admit_schedule(k, v, h, key, registry, placement))
    rebuilt = ScheduleCore()
    started, total = time.monotonic(), 0
    for partition in partitions:
        for event in admitted.events(partition, 0, offsets.get(partition, 0)):
            rebuilt.fold_only(event, partition)
            total += 1
    log.info("rebuilt partitions %s of %s from %d events in %.1f s", partitions, topic, total,
             time.monotonic() - started)
    return rebuilt
