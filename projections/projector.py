"""The projector: consumes the topics and writes the views, storing each partition's position in the same
transaction as the rows, so a restart resumes exactly where the last commit left off."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import psycopg
from confluent_kafka import Consumer, Message, TopicPartition

from engine.codec import DecodeError, codec, decode_event
from engine.config import Settings
from engine.kafka import consumer_config, ensure_topics
from projections.db import connect, migrate
from projections.writer import ExecutionWriter, write_dead_letter, write_flow

log = logging.getLogger("kafkaban.projector")


class Projector:
    def __init__(self, settings: Settings, batch_size: int = 500) -> None:
        self.settings = settings
        self.database_url = settings.require_database()
        self.batch_size = batch_size
        self.stopping = threading.Event()
        self.writer = ExecutionWriter()
        self.topics = [settings.executions_topic, settings.definitions_topic, settings.deadletter_topic]

    def stored_offsets(self, conn: psycopg.Connection) -> dict[tuple[str, int], int]:
        rows = conn.execute("SELECT topic, partition, next_offset FROM projector_offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def run(self) -> None:
        migrate(self.database_url, self.settings.database_schema)
        ensure_topics(self.settings, self.settings.base_topics())
        consumer = Consumer(consumer_config(self.settings, f"{self.settings.topic_prefix}-projector",
                                            **{"enable.auto.commit": False}))
        conn = connect(self.database_url, self.settings.database_schema)

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            stored = self.stored_offsets(conn)
            conn.rollback()
            for tp in partitions:
                tp.offset = stored.get((tp.topic, tp.partition), 0)
            c.assign(partitions)
            self.writer.forget()

        consumer.subscribe(self.topics, on_assign=on_assign)
        try:
            while not self.stopping.is_set():
                batch = consumer.consume(self.batch_size, timeout=0.5)
                messages = [m for m in batch if m.error() is None]
                if messages:
                    self.apply(conn, messages)
        finally:
            consumer.close()
            conn.close()

    def apply(self, conn: psycopg.Connection, messages: list[Message]) -> None:
        """One transaction: the rows of every message and the next offset of each partition."""
        positions: dict[tuple[str, int], int] = {}
        try:
            for message in messages:
                self._apply_one(conn, message)
                positions[(message.topic(), message.partition())] = message.offset() + 1
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO projector_offsets (topic, partition, next_offset) VALUES (%s, %s, %s) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                    [(topic, partition, offset) for (topic, partition), offset in positions.items()])
            conn.commit()
        except Exception:
            conn.rollback()
            self.writer.forget()  # the cache may hold states of events that were rolled back
            raise

    def _apply_one(self, conn: psycopg.Connection, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        registry = self.settings.schema_registry_url
        if topic == self.settings.executions_topic:
            try:
                event = decode_event(message.value() or b"", registry)
            except DecodeError:
                return  # the engine dead-letters it; the deadletters view shows it
            self.writer.write(conn, event, topic, partition, offset)
        elif topic == self.settings.definitions_topic:
            try:
                record: dict[str, Any] = codec("definitions", registry).decode(message.value() or b"")
            except DecodeError as exc:
                log.warning("undecodable definition at %s[%s]@%s: %s", topic, partition, offset, exc.reason)
                return
            write_flow(conn, record)
        elif topic == self.settings.deadletter_topic:
            headers = {k: v for k, v in (message.headers() or [])}
            write_dead_letter(conn, topic, partition, offset, headers, message.key(), message.value())


def run(settings: Settings) -> None:
    projector = Projector(settings)

    def on_signal(signum: int, frame: Any) -> None:
        projector.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    projector.run()
