"""The projector: consumes the topics and writes the views, storing each partition's position in the same
transaction as the rows, so a restart resumes exactly where the last commit left off."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from engine.codec import DecodeError, codec
from engine.codec.admission import Misplaced, Refused, admit, admit_schedule
from engine.codec.partitioning import Placement
from engine.config import Settings
from engine.kafka import consumer_config, ensure_topics
from engine.log_reader import partitions_of
from projections.access_writer import write_access
from projections.db import connect, migrate
from projections.health import ProjectorHealth
from projections.schedule_writer import ScheduleWriter
from projections.writer import ExecutionWriter, write_dead_letter, write_definition, write_log_line, write_worker

log = logging.getLogger("kafkaban.projector")
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


class Projector:
    def __init__(self, settings: Settings, batch_size: int = 500) -> None:
        self.settings = settings
        self.database_url = settings.require_database()
        self.batch_size = batch_size
        self.stopping = threading.Event()
        self.writer = ExecutionWriter()
        self.schedule_writer = ScheduleWriter()
        self.signing_key = settings.require_signing_key()
        self.topics = [settings.executions_topic, settings.definitions_topic, settings.deadletter_topic,
                       settings.logs_topic, settings.heartbeats_topic, settings.schedules_topic,
                       settings.access_topic]
        # next offset of each partition as this projector last committed it; when the stored one differs, someone
        # else (a rebuild swapping in fresh tables) moved it, and the projector follows
        self.committed: dict[tuple[str, int], int] = {}
        self.consumer: Consumer | None = None
        self.conn: psycopg.Connection | None = None
        self.resync = False  # go back to the stored positions before reading on
        self.reported: set[int] = set()  # the consumer error codes already logged
        self.health = ProjectorHealth()
        self._partition_counts: dict[str, int] = {}

    def placement(self, topic: str, partition: int) -> Placement:
        """Where a record was read, against its topic's partition count (looked up once: keyed topics never grow,
        as every key would move)."""
        if topic not in self._partition_counts:
            self._partition_counts[topic] = len(partitions_of(self.settings, topic))
        return Placement(partition, self._partition_counts[topic])

    def stored_offsets(self, conn: psycopg.Connection) -> dict[tuple[str, int], int]:
        rows = conn.execute("SELECT topic, partition, next_offset FROM projector_offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def run(self) -> None:
        if self.settings.projector_port:
            self.health.serve(self.settings.api_host, self.settings.projector_port)
        self._until_written(lambda: migrate(self.database_url, self.settings.database_schema))
        ensure_topics(self.settings, self.settings.base_topics())
        consumer = Consumer(consumer_config(self.settings, f"{self.settings.topic_prefix}-projector",
                                            **{"enable.auto.commit": False}))
        self.consumer = consumer

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            try:
                stored = self.stored_offsets(self.connection())
                self.conn.rollback()  # type: ignore[union-attr]
            except psycopg.Error as exc:
                # PostgreSQL is away: take the partitions anyway and go back to the stored positions once it
                # returns (apply() skips anything below them meanwhile)
                self.health.failed(exc)
                self.drop_connection()
                stored, self.resync = {}, True
            for tp in partitions:
                tp.offset = stored.get((tp.topic, tp.partition), self.committed.get((tp.topic, tp.partition), 0))
                self.committed[(tp.topic, tp.partition)] = tp.offset
            c.assign(partitions)
            self.writer.forget()
            log.info("projecting %d partitions of %s", len(partitions), sorted({tp.topic for tp in partitions}))

        consumer.subscribe(self.topics, on_assign=on_assign)
        delay = RETRY_FIRST_S
        try:
            while not self.stopping.is_set():
                try:
                    conn = self.connection()
                    if self.resync:
                        self.rewind(conn)
                    batch = consumer.consume(self.batch_size, timeout=0.5)
                    messages = [m for m in batch if m.error() is None]
                    self.report_errors(m.error() for m in batch if m.error() is not None)
                    if messages:
                        self.apply(conn, messages)
                        self.health.applied(len(messages))
                    delay = RETRY_FIRST_S
                except psycopg.Error as exc:
                    # whatever this batch was, it is read again from the committed positions: nothing is skipped
                    self.health.failed(exc)
                    self.drop_connection()
                    self.resync = True
                    self.stopping.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
        finally:
            consumer.close()
            self.drop_connection()

    def report_errors(self, errors: Iterable[KafkaError]) -> None:
        """The consumer's errors (a subscribed topic not there yet, a broker away) are retried by librdkafka
        itself; each kind is logged once, so that a projector stuck on one says why."""
        for error in first_of_each_kind(errors, self.reported):
            log.warning("consumer error (logged once per kind; librdkafka retries): %s", error)

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.database_url, self.settings.database_schema)
        return self.conn

    def drop_connection(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def rewind(self, conn: psycopg.Connection) -> None:
        """Back to the positions stored with the rows, after a failure lost whatever was read since."""
        stored = self.stored_offsets(conn)
        conn.rollback()
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            offset = stored.get((tp.topic, tp.partition), 0)
            self.committed[(tp.topic, tp.partition)] = offset
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        self.writer.forget()
        self.resync = False

    def _until_written(self, step: Callable[[], object]) -> None:
        delay = RETRY_FIRST_S
        while not self.stopping.is_set():
            try:
                step()
                return
            except psycopg.Error as exc:
                self.health.failed(exc)
                self.stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def apply(self, conn: psycopg.Connection, messages: list[Message]) -> None:
        """One transaction: the rows of every message and the next offset of each partition."""
        positions: dict[tuple[str, int], int] = {}
        seeks: dict[tuple[str, int], int] = {}
        try:
            keys = sorted({(m.topic(), m.partition()) for m in messages})
            stored = {(t, p): o for t, p, o in conn.execute(
                "SELECT topic, partition, next_offset FROM projector_offsets WHERE (topic, partition) IN "
                "(SELECT * FROM unnest(%s::text[], %s::int[])) FOR UPDATE",
                ([k[0] for k in keys], [k[1] for k in keys])).fetchall()}
            for key in keys:
                if key in self.committed and stored.get(key, 0) != self.committed[key]:
                    seeks[key] = stored.get(key, 0)
            executions: list[tuple[Any, str, int, int]] = []
            misplaced: dict[tuple[str, str], tuple[int, int, int]] = {}  # (topic, producer): count, partition, offset
            for message in messages:
                key = (message.topic(), message.partition())
                if key in seeks:
                    continue
                expected = positions.get(key, stored.get(key, 0))
                if message.offset() < expected:
                    continue  # written already (a redelivery after a restart or a seek)
                if key[0] == self.settings.executions_topic:
                    try:
                        event = admit(message.key(), message.value(), message.headers(), self.signing_key,
                                      self.settings.schema_registry_url, self.placement(*key))
                    except Misplaced as exc:  # folded from the copy the engine forwards to its key's partition
                        count_misplaced(misplaced, key, exc, message.offset())
                    except Refused:
                        pass  # the engine dead-letters it; the deadletters view shows it
                    else:
                        executions.append((event, key[0], key[1], message.offset()))
                elif key[0] == self.settings.schedules_topic:
                    try:
                        schedule_event = admit_schedule(message.key(), message.value(), message.headers(),
                                                        self.signing_key, self.settings.schema_registry_url,
                                                        self.placement(*key))
                    except Misplaced as exc:
                        count_misplaced(misplaced, key, exc, message.offset())
                    except Refused:
                        pass  # dead-lettered by the engine, as for executions
                    else:
                        self.schedule_writer.write(conn, schedule_event, key[1], message.offset())
                else:
                    self._apply_one(conn, message)
                positions[key] = message.offset() + 1
            self.writer.write_batch(conn, executions)
            write_misplaced(conn, misplaced)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO projector_offsets (topic, partition, next_offset) VALUES (%s, %s, %s) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    [(topic, partition, offset) for (topic, partition), offset in positions.items()])
            conn.commit()
        except Exception:
            conn.rollback()
            self.writer.forget()  # the cache may hold states of events that were rolled back
            self.schedule_writer.forget()
            raise
        self.committed.update(positions)
        if seeks:
            self.writer.forget()
            self.schedule_writer.forget()
            for (topic, partition), offset in seeks.items():
                log.warning("position of %s[%s] moved to %s (tables rebuilt); following", topic, partition, offset)
                self.committed[(topic, partition)] = offset
                if self.consumer is not None:
                    self.consumer.seek(TopicPartition(topic, partition, offset))

    def _apply_one(self, conn: psycopg.Connection, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        registry = self.settings.schema_registry_url
        if topic == self.settings.definitions_topic:
            try:
                record: dict[str, Any] = codec("definitions", registry).decode(message.value() or b"")
            except DecodeError as exc:
                log.warning("undecodable definition at %s[%s]@%s: %s", topic, partition, offset, exc.reason)
                return
            write_definition(conn, record)
        elif topic == self.settings.access_topic:
            try:
                access = codec("access", registry).decode(message.value() or b"")
            except DecodeError as exc:
                log.warning("undecodable access record at %s[%s]@%s: %s", topic, partition, offset, exc.reason)
                return
            write_access(conn, access, topic, partition, offset)
        elif topic == self.settings.deadletter_topic:
            headers = {k: v for k, v in (message.headers() or [])}
            write_dead_letter(conn, topic, partition, offset, headers, message.key(), message.value())
        elif topic == self.settings.logs_topic:
            try:
                write_log_line(conn, codec("logs", registry).decode(message.value() or b""))
            except DecodeError as exc:
                log.warning("undecodable log line at %s[%s]@%s: %s", topic, partition, offset, exc.reason)
        elif topic == self.settings.heartbeats_topic:
            try:
                record = codec("heartbeats", registry).decode(message.value() or b"")
            except DecodeError:
                return
            if record["payload"][0].endswith("WorkerHeartbeat"):
                write_worker(conn, record)


def first_of_each_kind(errors: Iterable[KafkaError], seen: set[int]) -> list[KafkaError]:
    """The errors whose code is not in ``seen`` yet (adding it); the end of a partition is no error."""
    fresh = []
    for error in errors:
        if error.code() not in seen and error.code() != KafkaError._PARTITION_EOF:
            seen.add(error.code())
            fresh.append(error)
    return fresh


def run(settings: Settings) -> None:
    projector = Projector(settings)

    def on_signal(signum: int, frame: Any) -> None:
        projector.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    projector.run()


def count_misplaced(counts: dict[tuple[str, str], tuple[int, int, int]], where: tuple[str, int], exc: Misplaced,
                    offset: int) -> None:
    topic, partition = where
    seen = counts.get((topic, exc.event.producer), (0, 0, 0))[0]
    counts[(topic, exc.event.producer)] = (seen + 1, partition, offset)


def write_misplaced(conn: psycopg.Connection, counts: dict[tuple[str, str], tuple[int, int, int]]) -> None:
    if not counts:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO misplaced_records (topic, producer, records, last_partition, last_offset) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (topic, producer) DO UPDATE SET "
            "records = misplaced_records.records + EXCLUDED.records, last_partition = EXCLUDED.last_partition, "
            "last_offset = EXCLUDED.last_offset, last_seen_at = now()",
            [(topic, producer, n, partition, offset) for (topic, producer), (n, partition, offset) in counts.items()])
