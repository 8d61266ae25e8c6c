"""The edge of event triggers: reads the topics that waiting ticks depend on (other services' topics) and finds,
for each unmet dependency, the first record at or after the tick's time that matches it.

A topic is read from the time of its earliest waiting tick; when a new wait appears, its topic is read again from
that wait's time, so a record that arrived before the wait was known is not passed over (a restart does the same:
the waits are in the schedules' state). What is found is reported as ``ScheduleDependencyMet`` with an id per
(schedule, tick, dependency), so finding it twice changes nothing.
"""

from __future__ import annotations

import io
import logging
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from fastavro import schemaless_reader

from engine.codec.registry import RegistryError, SchemaRegistry
from engine.config import Settings
from engine.domain.ids import dependency_met_id
from engine.domain.schedule import events as se
from engine.domain.schedule.matching import NO_DOCUMENT, document_of, matches
from engine.domain.triggers import TriggerDependency
from engine.kafka import consumer_config

log = logging.getLogger("kafkaban.engine")
MAX_RECORDS_PER_SCAN = 20_000

WaitingDependency = tuple[str, int, TriggerDependency]  # schedule id, tick, the dependency


@dataclass
class TopicReader:
    consumer: Consumer
    partitions: list[int]
    known: set[tuple[str, int]] = field(default_factory=set)  # (schedule id, tick) of the waits read for


class DependencyWatch:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.readers: dict[str, TopicReader | None] = {}
        self.reported: set[tuple[str, int, str]] = set()
        self.registry = SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None

    def _reader(self, topic: str) -> TopicReader | None:
        if topic not in self.readers:
            consumer = Consumer(consumer_config(self.settings, f"kafkaban-triggers-{uuid.uuid4()}",
                                                **{"enable.auto.commit": False, "fetch.wait.max.ms": 50}))
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                log.warning("trigger dependencies name topic %s, which does not exist (yet)", topic)
                consumer.close()
                return None  # looked up again at the next scan
            self.readers[topic] = TopicReader(consumer, sorted(metadata.partitions))
        return self.readers[topic]

    def scan(self, waiting: list[WaitingDependency], now: int) -> list[se.ScheduleEvent]:
        """Read what is new (or, for new waits, what came since their tick) and report what matches."""
        out: list[se.ScheduleEvent] = []
        by_topic: dict[str, list[WaitingDependency]] = {}
        for item in waiting:
            if (item[0], item[1], item[2].name) not in self.reported:
                by_topic.setdefault(item[2].params["topic"], []).append(item)
        for topic, items in by_topic.items():
            reader = self._reader(topic)
            if reader is None:
                self.readers.pop(topic, None)
                continue
            fresh = {(sid, tick) for sid, tick, _ in items} - reader.known
            if fresh:
                self._rewind(reader, topic, min(tick for _, tick in fresh))
                reader.known |= fresh
            out += self._read(reader, items, now)
        wanted = {(sid, tick) for sid, tick, _ in waiting}
        for reader in self.readers.values():
            if reader is not None:
                reader.known &= wanted
        self.reported = {r for r in self.reported if (r[0], r[1]) in wanted}
        return out

    def _rewind(self, reader: TopicReader, topic: str, since: int) -> None:
        wanted = [TopicPartition(topic, p, since) for p in reader.partitions]
        found = reader.consumer.offsets_for_times(wanted, timeout=10)
        positions = []
        for tp in found:
            offset = tp.offset
            if offset < 0:  # no record at or after that time yet: from the end
                offset = reader.consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            positions.append(TopicPartition(topic, tp.partition, offset))
        reader.consumer.assign(positions)

    def _read(self, reader: TopicReader, items: list[WaitingDependency], now: int) -> list[se.ScheduleEvent]:
        out: list[se.ScheduleEvent] = []
        seen = 0
        while seen < MAX_RECORDS_PER_SCAN:
            batch = reader.consumer.consume(1000, timeout=0.05)
            if not batch:
                break
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("reading trigger topic %s: %s", message.topic(), error)
                    continue
                seen += 1
                out += self._match(message, items, now)
        return out

    def _match(self, message: Any, items: list[WaitingDependency], now: int) -> list[se.ScheduleEvent]:
        value: bytes = message.value() or b""
        text = value.decode("utf-8", errors="replace")
        document: Any = None  # decoded once, for the first dependency that looks into a field
        at = message.timestamp()[1]
        out = []
        for schedule_id, tick, dependency in items:
            key = (schedule_id, tick, dependency.name)
            if key in self.reported or at < tick:
                continue
            if document is None and "field" in dependency.params:
                document = self._document(value, text)
            if matches(dependency, text, NO_DOCUMENT if document is None else document):
                self.reported.add(key)
                match = se.DependencyMatch(dependency.name, message.topic(), message.partition(), message.offset())
                out.append(se.ScheduleEvent(dependency_met_id(schedule_id, tick, dependency.name), schedule_id, now,
                                            "engine", se.ScheduleDependencyMet(tick, match)))
        return out

    def _document(self, value: bytes, text: str) -> Any:
        """The value as a document: Avro in Confluent framing when a schema registry is configured, else JSON."""
        if self.registry is not None and value[:1] == b"\x00" and len(value) > 5:
            try:
                writer = self.registry.schema(struct.unpack(">I", value[1:5])[0])
                return schemaless_reader(io.BytesIO(value[5:]), writer)
            except (RegistryError, ValueError, EOFError, struct.error):
                pass
        return document_of(text)

    def close(self) -> None:
        for reader in self.readers.values():
            if reader is not None:
                reader.consumer.close()
        self.readers.clear()
