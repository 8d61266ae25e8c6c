"""Reading a partition to its end when it holds transaction markers and aborted records (exactly_once writes
them): the reader must stop at the end instead of waiting for offsets that are never delivered."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer

from engine.config import Settings
from engine.kafka import ensure_topics
from engine.log_reader import read_partition


def test_read_partition_steps_over_markers_and_aborted_records(bootstrap: str):
    settings = Settings(bootstrap=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}", partitions=1)
    topic = settings.topic("txn")
    ensure_topics(settings, [topic])
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4()}"})
    producer.init_transactions(30)
    for values, commit in (([b"a", b"b"], True), ([b"aborted"], False), ([b"c"], True)):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value=value, partition=0)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)

    whole = [value for _offset, _key, value in read_partition(settings, topic, 0)]
    assert whole == [b"a", b"b", b"c"]
    offsets = [offset for offset, _key, _value in read_partition(settings, topic, 0)]
    # up to an end that lies just past a commit marker (as a committed consumer offset does)
    high = offsets[-1] + 2
    assert [value for _o, _k, value in read_partition(settings, topic, 0, end=high)] == [b"a", b"b", b"c"]
