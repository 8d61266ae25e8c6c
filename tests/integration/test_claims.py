"""The first JobStarted of an attempt claims it: another worker's start of the same attempt is answered with a
kill addressed to that worker alone, and its result changes nothing, while the claim's own copy runs on."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from engine.clock import now_ms
from engine.codec import codec, encode_event
from engine.codec.records import kill_from_record
from engine.domain import events as ev
from engine.kafka import consumer_config, producer_config
from tests.integration.stack import Stack


def kills_of(stack: Stack, execution_id: str, timeout: float = 30) -> list:  # type: ignore[type-arg]
    topic = stack.settings.control_topic
    consumer = Consumer(consumer_config(stack.settings, f"{stack.prefix}-kills-{uuid.uuid4().hex[:6]}"))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            kill = kill_from_record(codec("control").decode(message.value()))
            if kill.execution_id == execution_id:
                found.append(kill)
    consumer.close()
    return found


def test_a_second_workers_copy_of_a_claimed_attempt_is_killed_alone_and_its_result_ignored(stack: Stack):
    execution_id = stack.submit(definition="name: claimed\nnodes: [{name: a, type: command, "
                                           "config: {command: 'sleep 4'}}]")
    running = stack.wait_for(execution_id, {"RUNNING"}, job="a", timeout=60)
    owner = stack.job(running, "a")["worker_id"]
    producer = Producer(producer_config(stack.settings))
    for payload in (ev.JobStarted("a", 1, "w-copy"), ev.JobFailed("a", 1, 1, "the copy failed", "w-copy")):
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "worker", payload)
        producer.produce(stack.settings.executions_topic, key=execution_id.encode(), value=encode_event(event))
    producer.flush(10)

    [kill] = kills_of(stack, execution_id)
    assert kill.worker_id == "w-copy" and kill.attempt == 1 and f"claimed by worker {owner}" in kill.reason
    ended = stack.wait_for(execution_id, timeout=60)
    assert ended["status"] == "SUCCEEDED", ended  # the owner was not killed, and the copy's failure did not count
    job = stack.job(ended, "a")
    assert job["worker_id"] == owner and job["attempt"] == 1
