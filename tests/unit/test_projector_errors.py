"""The projector logs each kind of consumer error once: a stuck projector says why without flooding its log."""

from __future__ import annotations

from confluent_kafka import KafkaError

from projections.projector import first_of_each_kind


def test_each_error_code_is_reported_once_and_partition_ends_never():
    seen: set[int] = set()
    unknown = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "topic not there yet")
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "brokers down")
    end = KafkaError(KafkaError._PARTITION_EOF, "end of partition")
    assert first_of_each_kind([unknown, end, unknown, down], seen) == [unknown, down]
    assert first_of_each_kind([KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "again"), end], seen) == []
    assert seen == {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._ALL_BROKERS_DOWN}
