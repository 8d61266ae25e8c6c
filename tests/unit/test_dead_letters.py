"""A dead letter as the API shows it: the headers read back with the rule that wrote them, whatever a producer put
there; key, time, size, preview and the event it decodes to; newest first, filtered, bounded; a broker that does
not answer in time is a 503."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from engine.codec import codec, encode_event
from engine.config import Settings
from engine.domain import events as ev
from engine.kafka import HEADER_OFFSET, HEADER_REASON, dead_letter_headers, dead_letter_origin
from engine.log_reader import DeadLetter
from engine.service import dead_letters
from engine.service.dead_letters import PREVIEW_BYTES, codec_name, newest, preview, shown
from engine.service.errors import ServiceError

SETTINGS = Settings(topic_prefix="kb")


def letter(partition: int = 0, offset: int = 0, timestamp_ms: int | None = 1_700_000_000_123,
           key: bytes | None = b"k", value: bytes | None = b"v", source_topic: str | None = "kb.executions",
           ) -> DeadLetter:
    return DeadLetter(partition, offset, timestamp_ms, key, value, "why", source_topic, 2, 41)


def test_the_headers_read_back_as_they_were_written_and_junk_is_none_not_an_error():
    assert dead_letter_origin(dead_letter_headers("not Avro", "kb.executions", 2, 41)) == (
        "not Avro", "kb.executions", 2, 41)
    assert dead_letter_origin([]) == (None, None, None, None)
    assert dead_letter_origin([(HEADER_REASON, b"bad \xff"), (HEADER_OFFSET, b"\xff"), ("other", None)]) == (
        "bad \ufffd", None, None, None)


def test_a_record_is_shown_bounded_with_its_key_as_text_and_its_time_in_utc():
    out = shown(SETTINGS, letter(partition=1, offset=7, key=b"\xffid", value=b"\x00" * 1000))
    assert out["partition"] == 1 and out["offset"] == 7
    assert out["dead_lettered_at"] == "2023-11-14T22:13:20.123000+00:00"
    assert (out["reason"], out["source_topic"], out["source_partition"], out["source_offset"]) == (
        "why", "kb.executions", 2, 41)
    assert out["key"] == "\ufffdid"
    assert out["value_size"] == 1000
    assert out["value_preview"] == "\\x00" * PREVIEW_BYTES + "…"
    assert (out["event_type"], out["execution_id"]) == (None, None)
    empty = shown(SETTINGS, letter(timestamp_ms=None, key=None, value=None))
    assert (empty["dead_lettered_at"], empty["key"], empty["value_size"], empty["value_preview"]) == (
        None, None, 0, "")


def test_a_preview_keeps_printable_ascii_and_escapes_the_rest():
    assert preview(b"a" * PREVIEW_BYTES) == "a" * PREVIEW_BYTES  # exactly the bound: nothing left out
    assert preview(b"<script>\n\\") == "<script>\\x0a\\x5c"


def test_a_value_is_decoded_with_its_source_topics_codec():
    execution_id = str(uuid.uuid4())
    forged = encode_event(ev.Event(str(uuid.uuid4()), execution_id, 1, "engine", ev.ExecutionFailed(["a"])))
    out = shown(SETTINGS, letter(value=forged))
    assert (out["event_type"], out["execution_id"]) == ("ExecutionFailed", execution_id)
    # the same bytes from a topic of another deployment, or of another schema, name no event
    assert shown(SETTINGS, letter(value=forged, source_topic="other.executions"))["event_type"] is None
    assert shown(SETTINGS, letter(value=forged, source_topic="kb.schedules"))["event_type"] is None
    assert shown(SETTINGS, letter(value=forged, source_topic=None))["event_type"] is None
    kill = codec("control").encode({"event_id": str(uuid.uuid4()), "execution_id": execution_id, "occurred_at": 1,
                                    "producer": "engine", "causation_id": None, "correlation_id": None,
                                    "payload": ("kafkaban.control.KillJob",
                                                {"job": "a", "attempt": 1, "reason": "r", "worker_id": None})})
    assert (shown(SETTINGS, letter(value=kill, source_topic="kb.control"))["event_type"]) == "KillJob"


def test_codec_names_of_the_deployments_topics():
    assert codec_name(SETTINGS, "kb.executions") == "executions"
    assert codec_name(SETTINGS, "kb.dispatch.gpu") == "dispatch"
    assert codec_name(SETTINGS, "kb.access") is None  # access records stay undecoded
    assert codec_name(SETTINGS, "kb.nothing") is None
    assert codec_name(SETTINGS, "kbx.executions") is None


def read_returning(letters: list[DeadLetter], asked: dict[str, Any]) -> Any:
    def read(settings: Settings, newest: int | None = None, timeout: float | None = None) -> Iterator[DeadLetter]:
        asked.update(newest=newest, timeout=timeout)
        yield from letters
    return read


def test_newest_first_across_partitions_filtered_by_source_topic_and_limited(monkeypatch: pytest.MonkeyPatch):
    letters = [letter(0, 0, 100), letter(0, 1, 300), letter(1, 0, 200, source_topic="kb.schedules"),
               letter(1, 1, 400), letter(2, 0, 400)]
    asked: dict[str, Any] = {}
    monkeypatch.setattr(dead_letters, "read_dead_letters", read_returning(letters, asked))
    assert [(d["partition"], d["offset"]) for d in newest(SETTINGS, 10)] == [(2, 0), (1, 1), (0, 1), (1, 0), (0, 0)]
    assert asked == {"newest": 10, "timeout": dead_letters.READ_TIMEOUT_S}  # the newest of each partition only
    assert [(d["partition"], d["offset"]) for d in newest(SETTINGS, 2)] == [(2, 0), (1, 1)]
    assert [(d["partition"], d["offset"]) for d in newest(SETTINGS, 10, "kb.schedules")] == [(1, 0)]
    assert newest(SETTINGS, 10, "kb.nothing") == []
    newest(SETTINGS, 10_000)
    assert asked["newest"] == dead_letters.MAX_LIMIT


def test_a_broker_that_does_not_answer_in_time_is_a_503(monkeypatch: pytest.MonkeyPatch):
    def slow(settings: Settings, newest: int | None = None, timeout: float | None = None) -> Iterator[DeadLetter]:
        yield letter()
        raise TimeoutError("reading kb.deadletter: not done within 10 s")

    monkeypatch.setattr(dead_letters, "read_dead_letters", slow)
    with pytest.raises(ServiceError) as refused:
        newest(SETTINGS)
    assert refused.value.status_code == 503 and "kb.deadletter" in refused.value.detail
    assert refused.value.headers == {"Retry-After": str(dead_letters.RETRY_AFTER_S)}
