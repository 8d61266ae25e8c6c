"""A worker pauses its dispatch partitions while its slots are full. librdkafka keeps a partition's pause across a
rebalance, so a worker whose slot freed while its partitions were away (its resume met an empty assignment) got
them back paused and never fetched again: after a broker froze past the session timeout under load, every
dispatch sent again sat unread and the executions never ended. Here that sequence is played on a real broker
with the worker's own assignment callback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition

from engine.config import Settings
from engine.kafka import consumer_config, ensure_topics, producer_config
from engine.polling import poll_until
from workers.runtime import keep_pause_state


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    assert poll_until(lambda: True if check() else None, timeout, every=0.0), f"no {what} in {timeout} s"


def test_a_partition_paused_then_revoked_comes_back_as_the_worker_is_now(bootstrap: str):
    settings = Settings(bootstrap=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}", partitions=1)
    topic = settings.topic("dispatch.default")
    ensure_topics(settings, [topic])
    state = {"paused": False}
    assigned: list[list[TopicPartition]] = []

    def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keep_pause_state(consumer, partitions, state["paused"])
        assigned.append(partitions)

    consumer = Consumer(consumer_config(settings, f"{settings.topic_prefix}.workers", **{
        "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    try:
        consumer.subscribe([topic], on_assign=on_assign)
        until(lambda: consumer.poll(0.2) is None and bool(assigned), 60, "first assignment")
        # full: the worker pauses what it holds
        state["paused"] = True
        consumer.pause(consumer.assignment())
        # the partition leaves (a session lost to a frozen broker, a rebalance); meanwhile a slot frees and the
        # worker resumes what it holds now: nothing
        consumer.unsubscribe()
        until(lambda: consumer.poll(0.1) is None and not consumer.assignment(), 30, "revocation")
        state["paused"] = False
        consumer.resume(consumer.assignment())
        consumer.subscribe([topic], on_assign=on_assign)
        until(lambda: consumer.poll(0.2) is None and len(assigned) >= 2, 60, "second assignment")

        producer = Producer(producer_config(settings))
        producer.produce(topic, key=b"e", value=b"a dispatch sent again")
        producer.flush(10)
        deadline = time.monotonic() + 20
        got = None
        while got is None and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got = message.value()
        assert got == b"a dispatch sent again", "the partition came back paused: the dispatch was never read"
    finally:
        consumer.close()
