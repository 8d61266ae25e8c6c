"""Poison in the middle of a burst: undecodable bytes, forged engine events, decisions written by a producer that
may not make them, a condition nested thousands deep. Each is set aside with its reason (or, for the deep
condition, rejected by validation) and every innocent execution of the same batches runs to its end."""

from __future__ import annotations

import dataclasses
import time
import uuid

from confluent_kafka import Consumer, Producer

from engine.clock import now_ms
from engine.codec import encode_event
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.kafka import HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, consumer_config, producer_config
from projections.verify import verify
from tests.integration.stack import Stack

FLOW = load_flow("name: burst\nnodes:\n  - {name: a, type: noop}\n")


def submission(execution_id: str, spec=FLOW) -> bytes:  # type: ignore[no-untyped-def]
    return encode_event(ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "api",
                                 ev.ExecutionSubmitted(spec.name, spec.version_hash(), spec, {}, "burst")))


def event(execution_id: str, producer: str, payload: ev.Payload) -> bytes:
    return encode_event(ev.Event(str(uuid.uuid4()), execution_id, now_ms(), producer, payload,
                                 causation_id=str(uuid.uuid4()) if producer == "engine" else None))


def dead_letters(stack: Stack, count: int, timeout: float = 60) -> dict[tuple[int, int], bytes]:
    """(source partition, offset) -> reason of the first ``count`` dead letters."""
    consumer = Consumer(consumer_config(stack.settings, f"{stack.prefix}-dlq-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([stack.settings.deadletter_topic])
    found: dict[tuple[int, int], bytes] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            headers = dict(message.headers())
            found[(int(headers[HEADER_PARTITION]), int(headers[HEADER_OFFSET]))] = headers[HEADER_REASON]
    consumer.close()
    return found


def test_poison_mixed_into_a_burst_is_set_aside_and_every_innocent_execution_ends(stack: Stack):
    settings = stack.settings
    innocent = [str(uuid.uuid4()) for _ in range(40)]
    deep_id = str(uuid.uuid4())
    deep = dataclasses.replace(FLOW, jobs=tuple(dataclasses.replace(j, condition="(" * 3000 + "true" + ")" * 3000)
                                                for j in FLOW.jobs))
    stranger = str(uuid.uuid4())
    poison = {
        # what it is -> (execution it is keyed by, bytes)
        "undecodable": (innocent[0], b"\xc3\x01 definitely not avro"),
        "forged engine failure": (innocent[1], event(innocent[1], "engine", ev.ExecutionFailed(["a"]))),
        "cancel decided by a worker": (innocent[2], event(innocent[2], "worker", ev.ExecutionCancelled())),
        "forged engine event of an unknown execution": (stranger, event(stranger, "engine", ev.JobQueued("a", 1))),
    }
    producer = Producer(producer_config(settings))
    # produced in one burst, so that poison and innocents share the engine's batches
    for index, execution_id in enumerate(innocent):
        producer.produce(settings.executions_topic, key=execution_id.encode(), value=submission(execution_id))
        if index % 10 == 5:
            key, value = list(poison.values())[index // 10]
            producer.produce(settings.executions_topic, key=key.encode(), value=value)
    producer.produce(settings.executions_topic, key=deep_id.encode(), value=submission(deep_id, deep))
    producer.flush(30)

    ended = {execution_id: stack.wait_for(execution_id, timeout=90) for execution_id in innocent}
    assert {e["status"] for e in ended.values()} == {"SUCCEEDED"}, ended
    rejected = stack.wait_for(deep_id, timeout=60)
    assert rejected["status"] == "REJECTED"
    assert any("bad condition" in error and "at most 200" in error for error in rejected["errors"]), rejected

    reasons = sorted(dead_letters(stack, len(poison)).values())
    assert len(reasons) == len(poison), reasons
    assert any(b"not Avro" in r or b"fingerprint" in r for r in reasons), reasons
    assert sum(b"claims producer=engine but is not signed by the engine" in r for r in reasons) == 2, reasons
    assert any(b"ExecutionCancelled is decided by the engine only" in r for r in reasons), reasons
    # the forged failure left no trace in the history the API serves
    history = stack.api("GET", f"/api/v1/executions/{innocent[1]}/events")["events"]
    assert [e["type"] for e in history].count("ExecutionFailed") == 0

    report = verify(settings)
    assert report.ok, report.mismatches
    assert report.refused == len(poison)
