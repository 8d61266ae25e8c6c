"""What every service is handed: the settings, a views connection, a way to write a record, the read-your-writes
wait, and access (who is asking, what they may do)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import KafkaError, KafkaException, Producer

from engine.config import Settings
from engine.kafka import producer_config
from engine.service.access import Access
from engine.service.errors import ServiceError
from engine.service.wiring import Db, WaitProjected
from projections.db import connect

READ_YOUR_WRITES_TIMEOUT_S = 10.0


class Writer:
    """Produces records and reports where they landed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer(producer_config(settings))
        self.lock = threading.Lock()

    def produce(self, topic: str, key: str, value: bytes) -> tuple[int, int]:
        result: dict[str, Any] = {}

        def delivered(error: Any, message: Any) -> None:
            result["error"], result["message"] = error, message

        with self.lock:
            try:
                self.producer.produce(topic, key=key.encode(), value=value, on_delivery=delivered)
            except KafkaException as exc:  # refused before sending (too large, queue full)
                if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise ServiceError(413, f"{len(value):,} bytes are too large for one record of {topic}") from exc
                raise ServiceError(503, f"could not write to {topic}: {exc.args[0]}") from exc
            self.producer.flush(30)
        error = result.get("error")
        if error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            raise ServiceError(413, f"{len(value):,} bytes are too large for one record of {topic}")
        if error is not None or "message" not in result:
            raise ServiceError(503, f"could not write to {topic}: {error or 'no delivery report'}")
        return result["message"].partition(), result["message"].offset()


def views(settings: Settings) -> Db:
    """A views connection per use (autocommit: every read sees the latest projected state)."""

    @contextmanager
    def connection() -> Iterator[psycopg.Connection]:
        with connect(settings.require_database(), settings.database_schema, autocommit=True) as conn:
            yield conn

    return connection


@dataclass
class Context:
    settings: Settings
    writer: Writer
    wait_projected: WaitProjected
    access: Access

    def __post_init__(self) -> None:
        self.db = views(self.settings)

    def produce(self, topic: str, key: str, value: bytes) -> tuple[int, int]:
        return self.writer.produce(topic, key, value)
