"""GET /api/v1/dead-letters on a real stack: a poison record produced to the executions topic shows up with its
reason, where it came from and where it sits in the dead-letter topic; a forged event that decodes names its type
and execution; a caller without the READ role is refused, a bad limit is a 422 that changes nothing; headers
someone else wrote are unknowns, not errors (here and in the projector); the reader steps over transaction markers,
and a broker that does not answer is a 503 in bounded time."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer

from engine.broker.embedded import free_port
from engine.client import ApiFailure, call
from engine.clock import now_ms
from engine.codec import encode_event
from engine.config import Settings
from engine.domain import events as ev
from engine.kafka import HEADER_PARTITION, HEADER_TOPIC, dead_letter_headers, ensure_topics, producer_config
from engine.log_reader import dead_lettered, high_watermarks, read_dead_letters
from engine.service.dead_letters import newest
from engine.service.errors import ServiceError
from projections.db import connect
from tests.integration.stack import Stack


def produce(stack: Stack, key: str, value: bytes) -> tuple[int, int]:
    """Straight to the executions topic, as any producer may: (partition, offset) it landed at."""
    producer = Producer(producer_config(stack.settings))
    landed: list[tuple[int, int]] = []
    producer.produce(stack.settings.executions_topic, key=key.encode(), value=value,
                     on_delivery=lambda error, message: landed.append((message.partition(), message.offset())))
    producer.flush(30)
    assert landed, "not delivered"
    return landed[0]


def listed_with(stack: Stack, key: str, timeout: float = 90) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answer, its dead letter of ``key``) once the engine has dead-lettered it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = stack.api("GET", "/api/v1/dead-letters?limit=1000")
        found = next((d for d in answer["dead_letters"] if d["key"] == key), None)
        if found is not None:
            return answer, found
        time.sleep(0.5)
    raise AssertionError(f"{key} was not listed in {timeout} s\n{stack.logs()}")


def test_a_poison_record_is_listed_with_its_reason_origin_and_place(stack: Stack):
    settings = stack.settings
    key = f"poison-{uuid.uuid4().hex[:8]}"
    before = now_ms()
    partition, offset = produce(stack, key, b"\xc3\x01 definitely not avro \xff")
    answer, found = listed_with(stack, key)
    assert answer["topic"] == settings.deadletter_topic
    assert (found["source_topic"], found["source_partition"], found["source_offset"]) == (
        settings.executions_topic, partition, offset)
    assert "not Avro" in found["reason"] or "fingerprint" in found["reason"], found
    assert found["value_size"] == 24
    assert found["value_preview"] == "\\xc3\\x01 definitely not avro \\xff"
    assert (found["event_type"], found["execution_id"]) == (None, None)
    refused_at = dt.datetime.fromisoformat(found["dead_lettered_at"])
    assert refused_at.utcoffset() == dt.timedelta(0)
    assert before - 1000 <= refused_at.timestamp() * 1000 <= now_ms() + 1000
    # where it sits in the dead-letter topic: the same record, read back from there
    here = {(d.partition, d.offset): d for d in read_dead_letters(settings)}
    stored = here[(found["partition"], found["offset"])]
    assert (stored.key, stored.source_offset) == (key.encode(), offset)
    # the filter keeps the records of one source topic
    of_topic = stack.api("GET", f"/api/v1/dead-letters?topic={settings.executions_topic}")["dead_letters"]
    assert any(d["key"] == key for d in of_topic)
    assert stack.api("GET", f"/api/v1/dead-letters?topic={settings.schedules_topic}")["dead_letters"] == []


def test_a_forged_event_that_decodes_names_its_type_and_execution_newest_first(stack: Stack):
    execution_id = str(uuid.uuid4())
    forged = encode_event(ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "worker", ev.ExecutionCancelled()))
    produce(stack, execution_id, forged)
    answer, found = listed_with(stack, execution_id)
    assert (found["event_type"], found["execution_id"]) == ("ExecutionCancelled", execution_id)
    assert "decided by the engine only" in found["reason"], found
    times = [d["dead_lettered_at"] for d in answer["dead_letters"]]
    assert times == sorted(times, reverse=True)
    assert len(stack.api("GET", "/api/v1/dead-letters?limit=1")["dead_letters"]) == 1


def test_a_caller_without_read_is_refused_and_a_bad_limit_changes_nothing(stack: Stack):
    name = f"u{uuid.uuid4().hex[:8]}"
    stack.api("POST", "/api/v1/users", {"name": name, "password": "correct horse battery", "roles": []})
    token = stack.api("POST", "/api/v1/tokens", {"user": name})["token"]
    with pytest.raises(ApiFailure) as refused:
        call(stack.url, "GET", "/api/v1/dead-letters", token=token)
    assert refused.value.status == 403 and "READ" in refused.value.message

    before = stack.api("GET", "/api/v1/dead-letters")
    highs = high_watermarks(stack.settings, stack.settings.deadletter_topic)
    for bad in ("0", "1001", "many", "-1"):
        with pytest.raises(ApiFailure) as invalid:
            stack.api("GET", f"/api/v1/dead-letters?limit={bad}")
        assert invalid.value.status == 422, bad
    with pytest.raises(ApiFailure) as invalid:
        stack.api("GET", "/api/v1/dead-letters?topic=" + "x" * 256)
    assert invalid.value.status == 422
    assert stack.api("GET", "/api/v1/dead-letters") == before
    assert high_watermarks(stack.settings, stack.settings.deadletter_topic) == highs


def test_the_newest_are_read_past_transaction_markers_and_aborted_records(bootstrap: str):
    # the engine writes dead letters in its transactions (exactly_once): markers and aborted records sit between
    settings = Settings(bootstrap=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}", partitions=1)
    ensure_topics(settings, [settings.deadletter_topic])
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4()}"})
    producer.init_transactions(30)
    for offsets, commit in (((0, 1), True), ((2,), False), ((3, 4), True)):
        producer.begin_transaction()
        for source_offset in offsets:
            producer.produce(settings.deadletter_topic, key=b"k", value=b"v", partition=0,
                             headers=dead_letter_headers("why", settings.executions_topic, 0, source_offset))
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)

    started = time.monotonic()
    assert [d.source_offset for d in read_dead_letters(settings, timeout=10)] == [0, 1, 3, 4]
    # offsets 0-1 and a marker, 3 (aborted) and a marker, 5-6 and a marker: the newest 2 are a record and a marker
    assert [d.source_offset for d in read_dead_letters(settings, newest=2, timeout=10)] == [4]
    assert [d.source_offset for d in read_dead_letters(settings, newest=4, timeout=10)] == [3, 4]
    assert time.monotonic() - started < 5  # ended at the end, not by waiting out a timeout
    assert dead_lettered(settings, settings.executions_topic) == {(0, 0), (0, 1), (0, 3), (0, 4)}
    assert dead_lettered(settings, settings.schedules_topic) == set()


def test_a_broker_that_does_not_answer_is_a_503_in_bounded_time():
    settings = Settings(bootstrap=f"127.0.0.1:{free_port()}", topic_prefix="nobody")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ServiceError) as refused:
        newest(settings, timeout=2)
    assert refused.value.status_code == 503
    assert time.monotonic() - started < 10


def test_headers_someone_else_wrote_are_shown_as_unknown_and_the_projector_goes_on(stack: Stack):
    settings = stack.settings
    key = f"odd-{uuid.uuid4().hex[:8]}"
    producer = Producer(producer_config(settings))
    producer.produce(settings.deadletter_topic, key=key.encode(), value=None,
                     headers=[(HEADER_TOPIC, settings.executions_topic.encode()), (HEADER_PARTITION, b"seven")])
    producer.flush(30)
    _, found = listed_with(stack, key)
    assert (found["reason"], found["source_topic"], found["source_partition"], found["source_offset"]) == (
        None, settings.executions_topic, None, None)
    assert (found["value_size"], found["value_preview"]) == (0, "")
    deadline = time.monotonic() + 60
    row = None
    while row is None and time.monotonic() < deadline:
        with connect(settings.require_database(), settings.database_schema, autocommit=True) as conn:
            row = conn.execute("SELECT reason, source_topic, source_partition FROM deadletters WHERE partition = %s "
                               "AND \"offset\" = %s", (found["partition"], found["offset"])).fetchone()
        time.sleep(0.2)
    assert row == ("unknown", settings.executions_topic, None), stack.log("projector")
