"""Rebuild the views: replay every topic from offset 0 into a fresh schema, then swap it in atomically.

Readers keep the old tables until the swap, a single transaction of two schema renames, so they never see a half
built view. The running projector notices that the stored positions changed under it and follows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from confluent_kafka import Consumer, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config
from engine.log_reader import Where, read_to_end
from projections.db import check_schema, connect, migrate
from projections.projector import Projector

Progress = Callable[[int, int, float], None]  # done, total, seconds


@dataclass(frozen=True)
class RebuildResult:
    schema: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def replay_into(settings: Settings, schema: str, progress: Progress | None = None) -> RebuildResult:
    """Replay every projected topic from the start up to its current end into ``schema`` (created fresh).

    The reported high watermarks are a lower bound (some brokers report them short for batched records): the
    replay goes on past them until nothing more arrives for a moment."""
    url = settings.require_database()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {check_schema(schema)} CASCADE")
    migrate(url, schema)
    projector = Projector(settings.with_(database_schema=schema))
    consumer = Consumer(consumer_config(settings, f"kafkaban-rebuild-{uuid.uuid4()}",
                                        **{"enable.auto.commit": False}))
    started = time.monotonic()
    done = 0
    try:
        starts: dict[Where, int] = {}
        total = 0
        for topic in projector.topics:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue
            for partition in metadata.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                if high > low:
                    starts[(topic, partition)] = low
                    total += high
        last_report = 0.0
        with connect(url, schema) as conn:
            for messages in read_to_end(consumer, starts):
                projector.apply(conn, messages)
                done += len(messages)
                now = time.monotonic()
                if progress and now - last_report > 0.5:
                    progress(done, total, now - started)
                    last_report = now
        if progress:
            progress(done, max(total, done), time.monotonic() - started)
    finally:
        consumer.close()
    return RebuildResult(schema, done, time.monotonic() - started)


def swap(settings: Settings, fresh: str) -> None:
    """Make ``fresh`` the live schema in one transaction; drop the old one afterwards."""
    url, live = settings.require_database(), check_schema(settings.database_schema)
    retired = check_schema(f"{live}_old_{int(time.time())}")
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (live,)).fetchone()
        if exists:
            conn.execute(f"ALTER SCHEMA {live} RENAME TO {retired}")
        conn.execute(f"ALTER SCHEMA {check_schema(fresh)} RENAME TO {live}")
        conn.commit()
        if exists:
            conn.execute(f"DROP SCHEMA {retired} CASCADE")
            conn.commit()


def rebuild(settings: Settings, progress: Progress | None = None) -> RebuildResult:
    fresh = f"{settings.database_schema}_next"
    result = replay_into(settings, fresh, progress)
    swap(settings, fresh)
    return RebuildResult(settings.database_schema, result.events, result.seconds)
