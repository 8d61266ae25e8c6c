"""Confluent framing against a real schema registry: Apicurio Registry's Confluent-compatible API, started by this
module. The Java service registers the current executions schema as a Confluent serializer would (subject
``<topic>-value``) and writes magic byte 0 and the 4-byte schema id before each body; a stack run with
KAFKABAN_SCHEMA_REGISTRY_URL reads those records, writes its own events Confluent-framed too, and verifies."""

from __future__ import annotations

import json
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import schemas
from engine.kafka import consumer_config
from tests.integration.stack import Stack
from tests.integration.test_history import caught_up, cli
from tests.integration.test_java_producer import JavaService, submit_run_and_cancel
from tests.support.java import JavaProgram, JavaUnavailable
from tests.support.registry import apicurio_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("registry") / "apicurio.log"
    try:
        with apicurio_registry(log) as url:
            yield url
    except JavaUnavailable as exc:
        pytest.skip(f"no schema registry can run here: {exc}")


@pytest.fixture(scope="module")
def registry_stack(bootstrap: str, new_database: Any, registry: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The parts of a stack, all with the registry: what they write is Confluent-framed."""
    running = Stack(bootstrap, new_database(), tmp_path_factory.mktemp("stack-logs"),
                    extra_env={"KAFKABAN_SCHEMA_REGISTRY_URL": registry})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def records_of(stack: Stack, execution_id: str) -> list[bytes]:
    """The values of the executions topic keyed by the execution, from its partitions' start to their end."""
    topic = stack.settings.executions_topic
    consumer = Consumer(consumer_config(stack.settings, f"{stack.prefix}-framing-probe"))
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(stack.settings.partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        seen = {p: 0 for p in ends}
        values = []
        while any(seen[p] < end for p, end in ends.items()):
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            seen[message.partition()] = message.offset() + 1
            if message.key() == execution_id.encode():
                values.append(message.value())
        return values
    finally:
        consumer.close()


def subjects(registry: str) -> list[str]:
    with urllib.request.urlopen(registry + "/subjects", timeout=10) as answer:
        return list(json.loads(answer.read()))


def test_confluent_framed_records_of_a_java_service_are_read_through_the_registry(
        registry_stack: Stack, registry: str, java_producer: JavaProgram, tmp_path: Path):
    stack = registry_stack
    service = JavaService(java_producer, tmp_path / "java.log", stack.settings.bootstrap,
                          stack.settings.executions_topic, str(schemas.path("executions")), registry)
    try:
        execution_id = submit_run_and_cancel(stack, service)
    finally:
        service.close()

    # on the wire: every record of the execution is 00 + a schema id the registry holds, the Java service's
    # under its topic's subject and the engine's under Kafkaban's own ("executions-value")
    values = records_of(stack, execution_id)
    assert len(values) >= 4 and all(v[:1] == b"\x00" for v in values), [v[:5] for v in values]
    ids = {struct.unpack(">I", v[1:5])[0] for v in values}
    for schema_id in ids:
        with urllib.request.urlopen(f"{registry}/schemas/ids/{schema_id}", timeout=10) as answer:
            assert json.loads(json.loads(answer.read())["schema"])["name"] == "ExecutionEnvelope"
    assert {f"{stack.settings.executions_topic}-value", "executions-value"} <= set(subjects(registry))

    caught_up(stack)
    verified = cli(stack, "replay", "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"]
