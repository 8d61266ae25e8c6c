"""Which records are events: the one rule the engine, its rebuild, the projector and the audits share."""

from __future__ import annotations

import uuid

import pytest

from engine.codec import encode_event
from engine.codec.admission import ENGINE_MAC_HEADER, Refused, admit, signed
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.processor.core import EngineCore
from engine.processor.intake import Intake

KEY = b"engine-secret"
FLOW = load_flow("name: one\nnodes:\n  - {name: a, type: noop}\n")


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def event(payload: ev.Payload, producer: str, execution_id: str = "ex-1", causation: str | None = None) -> ev.Event:
    return ev.Event(uid(f"{execution_id}/{type(payload).__name__}"), uid(execution_id), 1_700_000_000_000, producer,
                    payload, causation_id=causation and uid(causation))


def submission(execution_id: str = "ex-1") -> ev.Event:
    return event(ev.ExecutionSubmitted("one", FLOW.version_hash(), FLOW, {}, "tester"), "api", execution_id)


def test_the_engines_signed_events_and_other_producers_inputs_are_admitted():
    engine_event = encode_event(event(ev.JobQueued("a", 1), "engine", causation="c"))
    assert admit(uid("ex-1").encode(), engine_event, signed(engine_event, KEY), KEY).payload == ev.JobQueued("a", 1)
    worker_report = encode_event(event(ev.JobSucceeded("a", 1), "worker"))
    assert admit(uid("ex-1").encode(), worker_report, None, KEY).producer == "worker"
    assert admit(uid("ex-1").encode(), encode_event(submission()), [], KEY).type == "ExecutionSubmitted"


@pytest.mark.parametrize("headers", [None, [], [(ENGINE_MAC_HEADER, b"x" * 32)],
                                     signed(b"some other record", KEY), signed(b"", b"another key")],
                         ids=["no headers", "no signature", "bad signature", "signature of another record",
                              "signed with another key"])
def test_an_engine_event_without_the_engines_signature_is_refused(headers):
    forged = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="made-up"))
    with pytest.raises(Refused, match="claims producer=engine but is not signed by the engine"):
        admit(uid("ex-1").encode(), forged, headers, KEY)


@pytest.mark.parametrize("payload", [ev.JobQueued("a", 1), ev.JobDispatched("a", 1, "default", 1000),
                                     ev.ExecutionSucceeded(), ev.ExecutionFailed(["a"]), ev.JobLost("a", 1),
                                     ev.JobSkipped("a", "forged")])
def test_what_only_the_engine_decides_is_refused_from_any_other_producer(payload):
    for producer in ("api", "worker", "scheduler", "external"):
        with pytest.raises(Refused, match="decided by the engine only"):
            admit(uid("ex-1").encode(), encode_event(event(payload, producer)), None, KEY)


def test_undecodable_bytes_and_a_key_that_is_not_the_execution_are_refused():
    with pytest.raises(Refused):
        admit(uid("ex-1").encode(), b"\x00\xffnot avro", None, KEY)
    with pytest.raises(Refused, match="differs from execution_id"):
        admit(uid("ex-2").encode(), encode_event(submission("ex-1")), None, KEY)


class RaisingCore(EngineCore):
    """A core with a bug that one execution's records meet."""

    def handle(self, event: ev.Event, partition: int, now: int):  # type: ignore[no-untyped-def]
        if event.execution_id == uid("poison"):
            raise RecursionError("maximum recursion depth exceeded")
        return super().handle(event, partition, now)


def test_a_record_that_makes_the_engine_raise_is_set_aside_and_the_batch_goes_on():
    intake = Intake(RaisingCore(), KEY)
    records = [encode_event(submission(f"ex-{i}")) for i in range(3)]
    records.insert(1, encode_event(submission("poison")))
    taken = [intake.take(None, value, None, 0, 1_700_000_000_000) for value in records]

    assert [t.dead_letter is None for t in taken] == [True, False, True, True]
    assert taken[1].dead_letter == ("the engine failed on this record: RecursionError: maximum recursion depth "
                                    "exceeded")
    assert set(intake.core.states) == {uid("ex-0"), uid("ex-1"), uid("ex-2")}
    for t in (taken[0], taken[2], taken[3]):  # each innocent submission went on to queue and dispatch its job
        assert [type(e.payload) for e in t.events][:2] == [ev.JobQueued, ev.JobDispatched] and t.commands


def test_a_forged_engine_event_goes_to_the_dead_letters_and_changes_nothing():
    intake = Intake(EngineCore(), KEY)
    intake.take(None, encode_event(submission()), None, 0, 1)
    before = intake.core.states[uid("ex-1")]
    forged = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="made-up"))
    taken = intake.take(uid("ex-1").encode(), forged, None, 0, 2)
    assert taken.dead_letter and "not signed by the engine" in taken.dead_letter
    assert intake.core.states[uid("ex-1")] is before
