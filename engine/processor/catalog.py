"""The flows a schedule can start, as the definitions topic holds them: each registered flow's versions and each
project's uploads, the newest last (the topic is keyed by flow or project name, so one partition holds one
name's history in order). The engine keeps it to write the submissions of fired ticks without reading the
views: what a tick starts depends only on the log."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from engine.clock import now_ms
from engine.codec import DecodeError, codec
from engine.codec.records import plain_record
from engine.config import Settings
from engine.domain.loader import check_flow
from engine.domain.spec import FlowSpec
from engine.kafka import consumer_config, positions_reached

log = logging.getLogger("kafkaban.engine")
REFRESH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Resolved:
    spec: FlowSpec
    project: str | None
    archive: str | None
    version: str  # the spec's version hash, computed once with it (canonical JSON of the whole DAG)


@dataclass
class Catalog:
    """Versions of flows and uploads of projects, by name, in log order."""

    flows: dict[str, dict[str, str]] = field(default_factory=dict)  # flow -> version hash -> source (insertion order)
    uploads: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # project -> archive -> flow -> source

    def add(self, record: dict) -> None:
        plain = plain_record(record)
        name, body = plain["flow_name"], plain["payload"]
        if plain["payload_type"] == "ProjectUploaded":
            uploads = self.uploads.setdefault(name, {})
            uploads.pop(body["archive_sha256"], None)  # uploaded again: it is the newest now
            uploads[body["archive_sha256"]] = dict(body["flows"])
        else:
            versions = self.flows.setdefault(name, {})
            versions.pop(body["definition_hash"], None)
            versions[body["definition_hash"]] = body["source"]

    def resolve(self, flow: str, version: str | None) -> Resolved | str:
        """The definition to run for ``flow`` (a name or PROJECT/FLOW), or why there is none."""
        if "/" in flow:
            project, name = flow.split("/", 1)
            uploads = self.uploads.get(project)
            if not uploads:
                return f"project {project!r} has no upload"
            archive = version if version is not None else next(reversed(uploads))
            source = uploads.get(archive, {}).get(name)
            if source is None:
                return f"project {project!r} archive {archive} has no flow {name!r}"
            return _checked(source, name, project, archive)
        versions = self.flows.get(flow)
        if not versions:
            return f"flow {flow!r} is not registered"
        chosen = version if version is not None else next(reversed(versions))
        if chosen not in versions:
            return f"flow {flow!r} has no version {chosen}"
        return _checked(versions[chosen], flow, None, None)


@lru_cache(maxsize=4096)
def _checked(source: str, name: str, project: str | None, archive: str | None) -> Resolved | str:
    """Parsed and validated once per distinct definition: every tick of every schedule of a flow shares it."""
    spec, problems = check_flow(source, default_name=name)
    if spec is None or problems:
        return f"the definition of {name!r} no longer validates: " + "; ".join(str(p) for p in problems)
    return Resolved(spec, project, archive, spec.version_hash())


class CatalogReader:
    """Follows the definitions topic into a Catalog. ``refresh`` reads everything written before it was called,
    so a flow registered before a tick is due is known when the tick fires."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None
        self._partitions: list[TopicPartition] = []
        self._read_from = -1  # wall-clock ms at which the last completed refresh took the topic's end offsets

    def _open(self) -> Consumer:
        if self._consumer is None:
            topic = self.settings.definitions_topic
            consumer = Consumer(consumer_config(self.settings, f"kafkaban-catalog-{uuid.uuid4()}",
                                                **{"enable.auto.commit": False}))
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            partitions = sorted(metadata.partitions) if metadata and metadata.error is None else []
            self._partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
            consumer.assign(self._partitions)
            # paused between refreshes: an idle fetch waits on the broker (fetch.wait.max.ms) and the watermark
            # request queues behind it on the same connection, so every refresh cost half a second per partition
            consumer.pause(self._partitions)
            self._consumer = consumer
        return self._consumer

    def known_by(self, at: int) -> Catalog | None:
        """The catalog, when it holds every definition written before ``at`` (ms): the last refresh began after
        then. A burst of ticks due at one time then pays for one refresh, not one per batch. (Read without the
        lock: only the schedules agent refreshes, and it awaits each refresh before it asks again.)"""
        return self.catalog if self._read_from >= at else None

    def refresh(self) -> Catalog:
        with self._lock:
            started = now_ms()
            consumer = self._open()
            topic = self.settings.definitions_topic
            ends = {}
            for tp in self._partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
                if high > low:  # an empty partition has no position to reach until something is fetched
                    ends[(topic, tp.partition)] = high
            behind = [TopicPartition(t, p) for t, p in set(ends) - positions_reached(consumer, ends)]
            if behind:
                consumer.resume(behind)
                try:
                    self._read_to(consumer, ends)
                finally:
                    consumer.pause(behind)
            self._read_from = started
            return self.catalog

    def _read_to(self, consumer: Consumer, ends: dict[tuple[str, int], int]) -> None:
        topic = self.settings.definitions_topic
        deadline = time.monotonic() + REFRESH_TIMEOUT_S
        while len(positions_reached(consumer, ends)) < len(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: not at its end within {REFRESH_TIMEOUT_S} s")
            for message in consumer.consume(500, timeout=0.1):
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {error}")
                    continue
                try:
                    self.catalog.add(codec("definitions", self.settings.schema_registry_url)
                                     .decode(message.value()))
                except (DecodeError, KeyError, TypeError) as exc:
                    log.warning("definitions %s[%s]@%s is not a definition: %s", topic, message.partition(),
                                message.offset(), exc)

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
