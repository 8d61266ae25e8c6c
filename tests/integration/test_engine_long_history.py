"""An engine restarted on a long history rebuilds its partitions and runs new work.

The rebuild once ran inside the rebalance callback: when folding the history took longer than the consumer
session (6 s), the member was evicted, rejoined, dropped its state and began the same rebuild again, for good.
Here the session is 2 s and the history long enough for a rebuild to take well over that: submissions of a 20-job flow,
produced straight to the log and marked as already processed by committing the engine group's offsets at the
end, so a starting engine has to fold them all before it takes anything new."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from bench.kafka_benches import flow, submission
from engine.codec import decode_event
from engine.domain import events as ev
from engine.kafka import consumer_config, ensure_topics, producer_config
from engine.log_reader import partitions_of
from engine.processor.app import app_id
from tests.integration.stack import Stack

HISTORY = 30_000


def test_engine_started_on_a_long_history_rebuilds_and_runs_a_new_execution(bootstrap: str, new_database,
                                                                           tmp_path: Path):
    # a short session, so that a rebuild run inside the rebalance callback would outlast it
    stack = Stack(bootstrap, new_database(), tmp_path, partitions=3,
                  extra_env={"KAFKABAN_SESSION_TIMEOUT_MS": "2000"})
    settings = stack.settings
    topic = settings.executions_topic
    ensure_topics(settings, settings.base_topics())
    producer = Producer(producer_config(settings))
    long_flow, short_flow = flow("chain", 20), flow("chain", 1)
    for _ in range(HISTORY):
        key, value = submission(long_flow)
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0
    # the engine group has processed all of it: a starting engine must fold it, not decide on it
    group = Consumer(consumer_config(settings, app_id(settings), **{"enable.auto.commit": False}))
    ends = [TopicPartition(topic, p, group.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in partitions_of(settings, topic)]
    group.commit(offsets=ends, asynchronous=False)
    group.close()

    watcher = Consumer(consumer_config(settings, f"probe-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    watcher.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions_of(settings, topic)])
    watcher.consume(1, timeout=2)  # the assignment takes effect at the end before anything new is written
    stack.start(parts=("engine", "worker"))
    try:
        key, value = submission(short_flow)
        producer.produce(topic, key=key.encode(), value=value)
        producer.flush(30)
        ended = None
        deadline = time.monotonic() + 180
        while ended is None and time.monotonic() < deadline:
            for message in watcher.consume(500, timeout=0.5):
                if message.error() is None and message.key() == key.encode():
                    event = decode_event(message.value())
                    if isinstance(event.payload, ev.ENDING_EVENTS):
                        ended = event
        assert ended is not None, f"the new execution did not end within 180 s\n{stack.logs()}"
        assert isinstance(ended.payload, ev.ExecutionSucceeded)
        assert "UnknownMemberIdError" not in stack.log("engine"), stack.log("engine")
    finally:
        watcher.close()
        stack.stop()
