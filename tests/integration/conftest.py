"""A real broker and a real PostgreSQL for the integration tests, started by the tests themselves.

Broker: KAFKABAN_TEST_BOOTSTRAP if set; with KAFKABAN_TEST_CONTAINERS=1 (a machine with Docker) an Apache Kafka
container through testcontainers; otherwise Apache Kafka (KRaft, one node) started by Kafkaban itself on free
loopback ports, once per test session (KAFKABAN_EMBEDDED_BROKER=tansu runs the old tansu broker instead).
Database: KAFKABAN_DATABASE_URL if set (a fresh database is created on that server for each stack); with
KAFKABAN_TEST_CONTAINERS=1 a PostgreSQL container; otherwise a private PostgreSQL 16 started with pgserver.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from engine.broker.embedded import start_postgres
from engine.broker.local import start_local_broker
from tests.integration.stack import Stack
from tests.support.java import JavaProgram, JavaUnavailable, producer_program

USE_CONTAINERS = os.environ.get("KAFKABAN_TEST_CONTAINERS") == "1"


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    if os.environ.get("KAFKABAN_TEST_BOOTSTRAP"):
        yield os.environ["KAFKABAN_TEST_BOOTSTRAP"]
    elif USE_CONTAINERS:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        broker = start_local_broker()
        os.environ.update(broker.client_env)  # the parts the tests start inherit it
        try:
            yield broker.bootstrap
        finally:
            broker.stop()


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """URL of a PostgreSQL server (its default database), for creating test databases."""
    if os.environ.get("KAFKABAN_DATABASE_URL"):
        yield os.environ["KAFKABAN_DATABASE_URL"]
    elif USE_CONTAINERS:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16") as pg:
            yield pg.get_connection_url(driver=None)
    else:
        server = start_postgres()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="session")
def new_database(database_server: str) -> Iterator[object]:
    created: list[str] = []

    def make() -> str:
        name = f"kafkaban_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(database_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return str(psycopg.conninfo.make_conninfo(database_server, dbname=name))

    yield make
    with psycopg.connect(database_server, autocommit=True) as conn:
        for name in created:
            with contextlib.suppress(psycopg.Error):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(bootstrap: str, new_database: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Engine, projector, API and one worker of pool 'default', on topics of their own."""
    logs = tmp_path_factory.mktemp("stack-logs")
    running = Stack(bootstrap, new_database(), Path(logs))  # type: ignore[operator]
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def java_producer() -> JavaProgram:
    """The Java service of the producer tests, resolved and compiled once (skipped where Java or Maven is not
    there)."""
    try:
        return producer_program()
    except JavaUnavailable as exc:
        pytest.skip(str(exc))
