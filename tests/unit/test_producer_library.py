"""The producer library's pure part: the submissions it builds are ones the engine runs, bad input is refused
before anything is queued, and the follower's fold yields one end per execution, as the views do."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import replace

import pytest

from engine.codec import decode_event, encode_event
from engine.codec.admission import admit, engine_public_key, home_partition, signed
from engine.codec.partitioning import Placement
from engine.codec.records import flow_registered
from engine.config import DEVELOPMENT_ENGINE_KEY, ConfigError, Settings
from engine.domain import events as ev
from engine.domain.evolve import fold
from engine.domain.ids import execution_id_for_key
from engine.domain.loader import load_flow
from engine.domain.react import react
from engine.domain.state import ExecutionStatus
from engine.follow import Ends, ExecutionFollower, admitted, check_group, follower_public_key
from engine.processor.catalog import Catalog, CatalogReader
from engine.producer import (
    KafkabanProducer,
    ProducerError,
    SubmissionRefused,
    cancel_event,
    check_service,
    client_config,
    resolve_inline,
    resolve_registered,
    submission_event,
)

KEY = b"engine-secret"
PUBLIC = engine_public_key(KEY)
SETTINGS = Settings(bootstrap="127.0.0.1:1", topic_prefix="unit", engine_key=KEY.decode())
NIGHTLY = """
name: nightly
params: {day: null, region: eu}
nodes:
  - {name: load, type: command, config: {command: "echo ${day} ${region}"}}
"""
NIGHTLY_V2 = NIGHTLY.replace("echo", "echo v2")


def registered(*sources: str) -> Catalog:
    catalog = Catalog()
    for occurred_at, source in enumerate(sources):
        spec = load_flow(source)
        catalog.add(flow_registered(spec.name, spec.version_hash(), source, "alice", occurred_at))
    return catalog


def with_upload(catalog: Catalog, project: str, archive: str, flows: dict[str, str]) -> Catalog:
    catalog.add({"event_id": str(uuid.uuid4()), "flow_name": project, "occurred_at": 1, "producer": "api",
                 "payload": ("kafkaban.definitions.ProjectUploaded", {"archive_sha256": archive, "flows": flows})})
    return catalog


class StaticCatalog(CatalogReader):
    """A catalog reader that reads nothing: the definitions it was given."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def refresh(self) -> Catalog:
        return self.catalog

    def close(self) -> None:
        pass


def decisions(event: ev.Event) -> list[str]:
    """What the engine decides on reading ``event`` first."""
    return [type(payload).__name__ for payload in react(fold([event]), event, event.occurred_at).events]


# -- submissions ----------------------------------------------------------------------------------------------

def test_an_inline_submission_is_one_the_engine_runs():
    event = submission_event(resolve_inline(NIGHTLY), {"day": "2026-12-01"}, "alice")
    payload = event.payload
    assert isinstance(payload, ev.ExecutionSubmitted)
    assert event.producer == "external" and payload.submitter == "alice"
    assert payload.definition_hash == load_flow(NIGHTLY).version_hash()  # the project's one hash rule
    value = encode_event(event)
    assert decode_event(value) == event
    assert admit(event.execution_id.encode(), value, None, KEY) == event
    assert decisions(event) == ["JobQueued"]


def test_a_registered_flow_resolves_to_its_latest_version_or_the_one_pinned():
    catalog = registered(NIGHTLY, NIGHTLY_V2)
    first, second = load_flow(NIGHTLY).version_hash(), load_flow(NIGHTLY_V2).version_hash()
    assert resolve_registered(catalog, "nightly").version == second
    assert resolve_registered(catalog, "nightly", version=first).version == first
    event = submission_event(resolve_registered(catalog, "nightly", version=first), {"day": "d"}, "alice")
    assert event.payload.definition_hash == first and decisions(event) == ["JobQueued"]


def test_a_projects_flow_carries_its_project_and_archive():
    archive = "ab" * 32
    catalog = with_upload(Catalog(), "analytics", archive, {"nightly": NIGHTLY})
    resolved = resolve_registered(catalog, "nightly", project="analytics")
    assert (resolved.project, resolved.archive) == ("analytics", archive)
    event = submission_event(resolved, {"day": "d"}, "alice", idempotency_key="k")
    assert event.execution_id == execution_id_for_key("nightly", "k", "analytics")
    assert decisions(event) == ["JobQueued"]


@pytest.mark.parametrize(("flow", "project", "version", "message"), [
    ("missing", None, None, "flow 'missing' is not registered"),
    ("nightly", None, "sha256:" + "0" * 64, "has no version"),
    ("nightly", "analytics", None, "project 'analytics' has no upload"),
    ("", None, None, "the flow name must be a non-empty string"),
    ("night\x00ly", None, None, "NUL"),
])
def test_an_unknown_flow_or_version_is_refused(flow, project, version, message):
    with pytest.raises(SubmissionRefused, match=message):
        resolve_registered(registered(NIGHTLY), flow, project, version)


def test_an_idempotency_key_gives_the_id_the_engine_expects_every_time():
    resolved = resolve_registered(registered(NIGHTLY), "nightly")
    first = submission_event(resolved, {"day": "d"}, "alice", idempotency_key="invoices/2026-12-01")
    again = submission_event(resolved, {"day": "d"}, "bob", idempotency_key="invoices/2026-12-01")
    assert first.execution_id == again.execution_id == execution_id_for_key("nightly", "invoices/2026-12-01")
    assert first.event_id != again.event_id
    other = submission_event(resolved, {"day": "d"}, "alice")
    assert other.execution_id != first.execution_id


@pytest.mark.parametrize(("params", "message"), [
    ({}, "missing required params: day"),
    ({"day": "d", "command": "rm -rf /"}, "would change what a job runs"),
    ({"day": 1}, "param 'day' must be a string"),
    ({"day": "d", "a\x00b": "x"}, "NUL"),
    ({"day": "d", **{f"p{i}": "x" for i in range(1000)}}, "at most 1,000 are accepted"),
    ({"day": "x" * (64 * 1024 + 1)}, "at most 65,536"),
])
def test_bad_params_are_refused(params, message):
    with pytest.raises(SubmissionRefused, match=message):
        submission_event(resolve_inline(NIGHTLY), params, "alice")


@pytest.mark.parametrize(("definition", "message"), [
    ("nodes: [", "not valid YAML"),
    ("nodes:\n  - {name: a, type: noop, dependsOn: [b]}\n", "invalid flow definition"),
    ("nodes: []\n", "invalid flow definition"),
    ("x: " + "a" * (512 * 1024), "larger than"),
])
def test_an_invalid_inline_definition_is_refused(definition, message):
    with pytest.raises(SubmissionRefused, match=message):
        resolve_inline(definition)


@pytest.mark.parametrize("submitter", ["", "a\x00b", "x" * 256, None])
def test_a_submitter_must_be_named(submitter):
    with pytest.raises(SubmissionRefused):
        submission_event(resolve_inline(NIGHTLY), {"day": "d"}, submitter)


@pytest.mark.parametrize("service", ["engine", "api", "worker", "scheduler", "", "a\x00"])
def test_a_service_may_not_pose_as_a_kafkaban_part(service):
    with pytest.raises(SubmissionRefused):
        check_service(service)


def test_a_cancel_is_a_cancel_request_of_another_producer():
    event = cancel_event("6f1c", "alice", "no longer needed")
    assert event.producer == "external" and event.payload == ev.CancelRequested("alice", "no longer needed")
    assert admit(b"6f1c", encode_event(event), None, KEY) == event
    for bad in ({"execution_id": ""}, {"requested_by": ""}, {"reason": "r" * 2001}):
        with pytest.raises(SubmissionRefused):
            cancel_event(**{"execution_id": "6f1c", "requested_by": "alice", **bad})


def test_the_client_is_the_engines_producer_named_after_the_service():
    config = client_config(SETTINGS, "billing-service", 12.5)
    assert config["partitioner"] == "murmur2_random"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["client.id"] == "billing-service" and config["message.timeout.ms"] == 12500


class Recorder:
    """Stands in for the Kafka client here: what would have been sent (the integration tests use the broker)."""

    def __init__(self) -> None:
        self.produced: list[object] = []

    def produce(self, *args: object, **kwargs: object) -> None:
        self.produced.append((args, kwargs))

    def flush(self, timeout: float) -> int:
        return 0


def test_bad_input_queues_nothing_and_engine_only_events_cannot_be_written():
    producer = KafkabanProducer(SETTINGS, "billing-service", catalog=StaticCatalog(registered(NIGHTLY)))
    recorder = producer._producer = Recorder()  # type: ignore[assignment]
    with producer:
        for call in (lambda: producer.submit("missing", submitter="alice"),
                     lambda: producer.submit("nightly", submitter="alice"),
                     lambda: producer.submit("nightly", submitter="alice", params={"day": "d", "command": "x"}),
                     lambda: producer.submit(submitter="alice"),
                     lambda: producer.submit(definition="nodes: [", submitter="alice"),
                     lambda: producer.submit(definition=NIGHTLY, version="v", submitter="alice")):
            with pytest.raises(SubmissionRefused):
                call()
        forged = ev.Event(str(uuid.uuid4()), "6f1c", 1, "external", ev.ExecutionSucceeded())
        with pytest.raises(ProducerError, match="not an event another service writes"):
            producer._write(forged)
    assert recorder.produced == []


# -- following ------------------------------------------------------------------------------------------------

def submitted(execution_id: str, submitter: str = "alice") -> ev.Event:
    return replace(submission_event(resolve_inline(NIGHTLY), {"day": "d"}, submitter), execution_id=execution_id)


def engine(execution_id: str, payload: ev.Payload, at: int = 1_700_000_005_000) -> ev.Event:
    return ev.Event(str(uuid.uuid4()), execution_id, at, "engine", payload)


def test_ends_yield_one_end_per_execution_with_its_flow():
    ends = Ends()
    assert ends.apply(submitted("x1"), 0, 0) is None
    assert ends.apply(submitted("x1", submitter="mallory"), 0, 1) is None  # the first submission stands
    assert ends.apply(engine("x1", ev.JobQueued("load", 1)), 0, 2) is None
    end = ends.apply(engine("x1", ev.ExecutionFailed(("load",))), 0, 3)
    assert end is not None
    assert (end.execution_id, end.status, end.flow, end.submitter, end.failed_jobs, end.offset) == (
        "x1", ExecutionStatus.FAILED, "nightly", "alice", ("load",), 3)
    assert end.ended_at == dt.datetime(2023, 11, 14, 22, 13, 25, tzinfo=dt.UTC)
    assert ends.apply(engine("x1", ev.ExecutionFailed(("load",))), 0, 4) is None  # a decision written twice
    assert ends.apply(engine("never-submitted", ev.ExecutionSucceeded()), 0, 5) is None
    assert ends.open == {}


@pytest.mark.parametrize(("payload", "status"), [
    (ev.ExecutionSucceeded(), ExecutionStatus.SUCCEEDED), (ev.ExecutionCancelled(), ExecutionStatus.CANCELLED),
    (ev.ExecutionRejected(("bad",)), ExecutionStatus.REJECTED)])
def test_every_kind_of_end_is_an_end(payload, status):
    ends = Ends()
    ends.apply(submitted("x"), 0, 0)
    end = ends.apply(engine("x", payload), 0, 1)
    assert end is not None and end.status is status
    assert end.errors == (("bad",) if status is ExecutionStatus.REJECTED else ())


def test_the_follower_admits_what_the_admission_rule_for_ends_admits():
    execution_id = str(uuid.uuid4())
    partitions = 3
    at = Placement(home_partition(execution_id, partitions), partitions)
    end = encode_event(engine(execution_id, ev.ExecutionSucceeded()))
    key = execution_id.encode()
    assert admitted(SETTINGS, PUBLIC, key, end, signed(end, KEY, end=True), at) is not None
    assert admitted(SETTINGS, PUBLIC, key, end, None, at) is None  # unsigned
    assert admitted(SETTINGS, PUBLIC, key, end, signed(end, KEY), at) is None  # the HMAC alone: not checkable here
    assert admitted(SETTINGS, PUBLIC, key, end, signed(end, b"another key", end=True), at) is None
    forged = encode_event(ev.Event(str(uuid.uuid4()), execution_id, 1, "external", ev.ExecutionSucceeded()))
    assert admitted(SETTINGS, PUBLIC, key, forged, None, at) is None  # an engine decision from another producer
    elsewhere = Placement((at.partition + 1) % partitions, partitions)
    assert admitted(SETTINGS, PUBLIC, key, end, signed(end, KEY, end=True), elsewhere) is None  # misplaced
    assert admitted(SETTINGS, PUBLIC, key, b"\xc3\x01 not avro", None, at) is None
    submission = encode_event(submitted(execution_id))
    assert admitted(SETTINGS, PUBLIC, key, submission, None, at) is not None


def test_a_follower_needs_the_public_key_or_an_engine_key_to_derive_it():
    remote = Settings(bootstrap="192.0.2.1:9092", topic_prefix="unit")  # off this machine (TEST-NET-1)
    with pytest.raises(ConfigError, match="KAFKABAN_ENGINE_PUBLIC_KEY is not set"):
        follower_public_key(remote)
    with pytest.raises(ConfigError, match="KAFKABAN_ENGINE_PUBLIC_KEY is not set"):
        ExecutionFollower(remote, "billing-service.ends")
    assert follower_public_key(remote.with_(engine_public_key=PUBLIC)) == PUBLIC
    assert follower_public_key(remote, public_key=PUBLIC) == PUBLIC
    assert follower_public_key(remote, signing_key=KEY) == PUBLIC  # derived, as the CLI derives it
    assert follower_public_key(remote.with_(engine_key=KEY.decode())) == PUBLIC
    # a broker on this machine and no key at all: the engine signs with the development key there
    assert follower_public_key(Settings(bootstrap="127.0.0.1:9092")) == engine_public_key(
        DEVELOPMENT_ENGINE_KEY.encode())
    with pytest.raises(ValueError, match="32 raw bytes"):
        follower_public_key(remote, public_key=PUBLIC[:31])
    follower = ExecutionFollower(remote.with_(engine_public_key=PUBLIC), "billing-service.ends")
    try:
        assert follower.public_key == PUBLIC
    finally:
        follower.close()


@pytest.mark.parametrize("written", [PUBLIC.hex(), PUBLIC.hex().upper(), base64.b64encode(PUBLIC).decode(),
                                     base64.urlsafe_b64encode(PUBLIC).decode(), f"  {PUBLIC.hex()}\n"])
def test_the_public_key_setting_takes_hex_or_base64_and_a_file(written, tmp_path):
    assert Settings.from_env({"KAFKABAN_ENGINE_PUBLIC_KEY": written}).engine_public_key == PUBLIC
    path = tmp_path / "engine.pub"
    path.write_text(written)
    assert Settings.from_env({"KAFKABAN_ENGINE_PUBLIC_KEY_FILE": str(path)}).engine_public_key == PUBLIC


@pytest.mark.parametrize("written", ["zz" * 32, PUBLIC.hex()[:-2], base64.b64encode(PUBLIC[:31]).decode(), "not a key",
                                     base64.b64encode(PUBLIC).decode() + "="])
def test_a_public_key_setting_that_is_no_key_is_refused(written):
    with pytest.raises(ConfigError, match="KAFKABAN_ENGINE_PUBLIC_KEY must be the engine's 32-byte"):
        Settings.from_env({"KAFKABAN_ENGINE_PUBLIC_KEY": written})


@pytest.mark.parametrize("group", ["unit-engine", "unit-projector", "unit.workers.default", "unit.control.w1",
                                   "kafkaban-catalog-1", "", "a\x00"])
def test_a_follower_may_not_join_a_kafkaban_group(group):
    with pytest.raises(ValueError):
        check_group(SETTINGS, group)
    assert check_group(SETTINGS, "billing-service.ends") == "billing-service.ends"
