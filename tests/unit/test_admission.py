"""Which records are events: the one rule the engine, its rebuild, the projector and the audits share."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.cli.main import main
from engine.codec import encode_event
from engine.codec.admission import (
    ENGINE_MAC_HEADER,
    ENGINE_SIG_HEADER,
    Misplaced,
    Refused,
    admit,
    admit_end,
    admit_schedule,
    engine_public_key,
    home_partition,
    signed,
)
from engine.codec.partitioning import Placement
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.domain.schedule import events as se
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
    intake = Intake(RaisingCore(), KEY, partitions=1)
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
    intake = Intake(EngineCore(), KEY, partitions=1)
    intake.take(None, encode_event(submission()), None, 0, 1)
    before = intake.core.states[uid("ex-1")]
    forged = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="made-up"))
    taken = intake.take(uid("ex-1").encode(), forged, None, 0, 2)
    assert taken.dead_letter and "not signed by the engine" in taken.dead_letter
    assert intake.core.states[uid("ex-1")] is before


# -- records on another partition than their key's -----------------------------------------------------------------

PARTITIONS = 6


def elsewhere(execution_id: str) -> int:
    return (home_partition(uid(execution_id), PARTITIONS) + 1) % PARTITIONS


def test_an_event_on_its_keys_partition_is_admitted_and_elsewhere_it_is_misplaced():
    value = encode_event(submission())
    home = home_partition(uid("ex-1"), PARTITIONS)
    assert admit(uid("ex-1").encode(), value, None, KEY, at=Placement(home, PARTITIONS)).type == "ExecutionSubmitted"
    for partition in set(range(PARTITIONS)) - {home}:
        with pytest.raises(Misplaced, match=f"on partition {partition}, its key's partition is {home}") as caught:
            admit(uid("ex-1").encode(), value, None, KEY, at=Placement(partition, PARTITIONS))
        assert caught.value.home == home and caught.value.entity == uid("ex-1")
    # a keyless record belongs on its execution id's partition too
    with pytest.raises(Misplaced):
        admit(None, value, None, KEY, at=Placement(elsewhere("ex-1"), PARTITIONS))


def test_a_record_that_is_no_event_is_refused_before_its_place_is_asked():
    # what cannot be forwarded (no execution id to key it by, a forgery) is refused, never Misplaced
    with pytest.raises(Refused) as undecodable:
        admit(None, b"\x00\xffnot avro", None, KEY, at=Placement(0, PARTITIONS))
    assert not isinstance(undecodable.value, Misplaced)
    forged = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="made-up"))
    with pytest.raises(Refused, match="not signed") as unsigned:
        admit(uid("ex-1").encode(), forged, None, KEY, at=Placement(elsewhere("ex-1"), PARTITIONS))
    assert not isinstance(unsigned.value, Misplaced)


def test_a_schedule_event_follows_the_same_rule():
    pause = se.ScheduleEvent(uid("p"), "s1", 1, "api", se.SchedulePaused("ops"))
    from engine.codec.schedule_records import encode_schedule_event
    value = encode_schedule_event(pause)
    home = home_partition("s1", PARTITIONS)
    assert admit_schedule(b"s1", value, None, KEY, at=Placement(home, PARTITIONS)) == pause
    with pytest.raises(Misplaced):
        admit_schedule(b"s1", value, None, KEY, at=Placement((home + 1) % PARTITIONS, PARTITIONS))


def test_the_engine_forwards_a_misplaced_record_unchanged_and_folds_it_only_on_its_keys_partition(caplog):
    intake = Intake(EngineCore(), KEY, partitions=PARTITIONS)
    value = encode_event(submission())
    headers = [("traceparent", b"00-abc-01"), ("kafkaban.custom", b"kept")]
    with caplog.at_level(logging.WARNING, logger="kafkaban.engine"):
        taken = intake.take(None, value, headers, elsewhere("ex-1"), 1)
        again = intake.take(None, encode_event(submission("ex-2")), None, elsewhere("ex-2"), 1)
    assert taken.forward is not None and taken.dead_letter is None and not taken.events and not taken.commands
    assert (taken.forward.key, taken.forward.value, taken.forward.headers) == (uid("ex-1").encode(), value, headers)
    assert taken.forward.home == home_partition(uid("ex-1"), PARTITIONS)
    assert again.forward is not None
    assert intake.core.states == {}  # folded nowhere yet: its copy is
    warnings = [r.getMessage() for r in caplog.records if "murmur2" in r.getMessage()]
    assert len(warnings) == 1 and "producer api (tester)" in warnings[0] and "partitioner=murmur2_random" in warnings[0]

    copy = intake.take(taken.forward.key, taken.forward.value, taken.forward.headers, taken.forward.home, 2)
    assert copy.forward is None and [type(e.payload) for e in copy.events][:1] == [ev.JobQueued]
    # the copy read twice (the engine died after forwarding, before committing) changes nothing
    state = intake.core.states[uid("ex-1")]
    twice = intake.take(taken.forward.key, taken.forward.value, taken.forward.headers, taken.forward.home, 3)
    assert not twice.events and not twice.commands and intake.core.states[uid("ex-1")] == state


# -- ends, checked with the engine's public key alone (a follower's rule) ---------------------------------------

PUBLIC = engine_public_key(KEY)


def test_an_end_the_engine_signed_is_admitted_with_the_public_key_alone():
    for payload in (ev.ExecutionSucceeded(), ev.ExecutionFailed(("a",)), ev.ExecutionCancelled(),
                    ev.ExecutionRejected(("bad",))):
        end = encode_event(event(payload, "engine", causation="c"))
        headers = signed(end, KEY, end=True)
        assert [name for name, _ in headers] == [ENGINE_MAC_HEADER, ENGINE_SIG_HEADER]
        assert admit_end(uid("ex-1").encode(), end, headers, PUBLIC).payload == payload
        assert admit(uid("ex-1").encode(), end, headers, KEY).payload == payload  # the HMAC readers: unchanged


def test_the_engines_end_signature_and_public_key_are_derived_from_its_key_deterministically():
    # pinned: a change of the derivation changes the public key every follower is configured with
    assert PUBLIC.hex() == "ac0d77e5b4689320890a438fdd3125cc6dcbe5849fedec57eb4908527d08890c"
    seed = hmac.new(KEY, b"kafkaban/engine-end-signature/ed25519/v1", hashlib.sha256).digest()
    assert Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw() == PUBLIC
    assert engine_public_key(b"another key") != PUBLIC
    end = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="c"))
    assert signed(end, KEY, end=True) == signed(end, KEY, end=True)  # Ed25519 signs deterministically
    assert signed(end, KEY) == signed(end, KEY, end=True)[:1]  # other events: only the HMAC, as before


@pytest.mark.parametrize("headers", [
    None, signed(b"", KEY), [(ENGINE_SIG_HEADER, None)],
    [(ENGINE_SIG_HEADER, b"\x00" * 63)], [(ENGINE_SIG_HEADER, b"\xff" * 65)], [(ENGINE_SIG_HEADER, "x" * 64)],
    [(ENGINE_SIG_HEADER, b"")], [(ENGINE_SIG_HEADER, b"\x01" * 64)],
    signed(b"some other record", KEY, end=True)[1:], signed(b"", b"another key", end=True)],
    ids=["no headers", "the HMAC only", "empty header", "63 bytes", "65 bytes", "a string", "no bytes",
         "64 bytes of nothing", "signature of another record", "signed with another key"])
def test_an_end_without_the_engines_signature_is_refused_by_the_public_key(headers):
    forged = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="made-up"))
    with pytest.raises(Refused, match="claims producer=engine but is not signed by the engine"):
        admit_end(uid("ex-1").encode(), forged, headers, PUBLIC)


def test_an_end_forged_with_the_hmac_and_signature_of_another_key_is_refused():
    forged = encode_event(event(ev.ExecutionFailed(["a"]), "engine", causation="made-up"))
    with pytest.raises(Refused, match="not signed by the engine"):
        admit_end(uid("ex-1").encode(), forged, signed(forged, b"not the engine's key", end=True), PUBLIC)
    with pytest.raises(Refused, match="not signed by the engine"):
        admit(uid("ex-1").encode(), forged, signed(forged, b"not the engine's key", end=True), KEY)


def test_the_public_keys_rule_keeps_the_key_placement_and_engine_only_checks():
    end = encode_event(event(ev.ExecutionSucceeded(), "engine", causation="c"))
    headers = signed(end, KEY, end=True)
    with pytest.raises(Refused, match="differs from execution_id"):
        admit_end(b"another-execution", end, headers, PUBLIC)
    with pytest.raises(Misplaced):
        admit_end(uid("ex-1").encode(), end, headers, PUBLIC, at=Placement(elsewhere(uid("ex-1")), 6))
    assert admit_end(uid("ex-1").encode(), end, headers, PUBLIC, at=Placement(home_partition(uid("ex-1"), 6), 6))
    with pytest.raises(Refused, match="decided by the engine only"):
        admit_end(uid("ex-1").encode(), encode_event(event(ev.ExecutionSucceeded(), "external")), None, PUBLIC)
    with pytest.raises(Refused):
        admit_end(uid("ex-1").encode(), b"\xc3\x01 not avro", headers, PUBLIC)
    assert admit_end(uid("ex-1").encode(), encode_event(submission()), None, PUBLIC).type == "ExecutionSubmitted"


def test_an_engine_event_other_than_an_end_is_refused_by_the_public_key():
    # it carries only the HMAC, which the public key cannot check: whether the engine wrote it is not known here
    queued = encode_event(event(ev.JobQueued("a", 1), "engine", causation="c"))
    with pytest.raises(Refused, match="other than an end"):
        admit_end(uid("ex-1").encode(), queued, signed(queued, KEY, end=True), PUBLIC)


def test_the_cli_prints_the_public_key_derived_from_the_engine_key(capsys, monkeypatch):
    monkeypatch.setenv("KAFKABAN_ENGINE_KEY", KEY.decode())
    assert main(["engine-key", "public"]) == 0
    assert base64.b64decode(capsys.readouterr().out.strip(), validate=True) == PUBLIC
    assert main(["engine-key", "public", "--hex"]) == 0
    assert bytes.fromhex(capsys.readouterr().out.strip()) == PUBLIC
