"""The producer library and the follower on a real broker and PostgreSQL: what another Python service submits
runs, reads back through the API, cancels, is idempotent under a key, is refused without a write when bad, and
ends for the follower exactly as it ends in the views."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import io
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from confluent_kafka import Producer

from engine.client import call
from engine.codec import encode_event
from engine.codec.admission import home_partition, signed
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.follow import ExecutionEnded, ExecutionFollower
from engine.kafka import producer_config
from engine.log_reader import high_watermarks
from engine.producer import KafkabanProducer, SubmissionRefused
from engine.projected import wait_projected
from tests.integration.stack import ROOT, Stack

HELLO = """
name: hello-inline
params: {who: null}
nodes:
  - {name: greet, type: command, config: {command: "echo hello ${who}"}}
"""
NIGHTLY = """
name: nightly
params: {day: null}
nodes:
  - {name: load, type: command, config: {command: "echo loading ${day}"}}
"""
SLEEPER = """
name: sleeper
nodes:
  - {name: nap, type: command, config: {command: "exec sleep 120"}}
  - {name: after, type: noop, dependsOn: [nap]}
"""
FAILING = """
name: failing
nodes:
  - {name: broken, type: command, config: {command: "exit 3"}}
"""
SAFETY_S = 90  # only so that a broken follower fails the test instead of hanging it


@pytest.fixture(scope="module")
def producer(stack: Stack) -> Any:
    with KafkabanProducer(stack.settings, service="billing-service") as made:
        yield made


@pytest.fixture(scope="module")
def public_only(stack: Stack) -> Settings:
    """The stack's settings as another service has them: the engine's public key, as the CLI prints it where the
    engine key is, and no engine key."""
    printed = subprocess.run([sys.executable, "-m", "engine.cli", "engine-key", "public"], env=stack.env,
                             capture_output=True, text=True, check=True).stdout.strip()
    return stack.settings.with_(engine_key=None, engine_public_key=base64.b64decode(printed, validate=True))


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executions_ends(stack: Stack) -> dict[int, int]:
    return high_watermarks(stack.settings, stack.settings.executions_topic)


def follow_until(follower: ExecutionFollower, done: Callable[[list[ExecutionEnded]], bool]) -> list[ExecutionEnded]:
    seen: list[ExecutionEnded] = []
    deadline = time.monotonic() + SAFETY_S
    follower.run(seen.append, stop=lambda: done(seen) or time.monotonic() > deadline)
    assert done(seen), [(end.execution_id, end.status) for end in seen]
    return seen


def read_to(follower: ExecutionFollower, ends: dict[int, int]) -> Callable[[list[ExecutionEnded]], bool]:
    """Done once the follower holds every partition and has handled each up to ``ends``."""
    return lambda seen: sorted(follower.assigned()) == sorted(ends) and all(
        follower.position(p) >= end for p, end in ends.items())


def write_raw(stack: Stack, event: ev.Event, signing_key: bytes | None = None) -> None:
    """A record written without the library (and so without its checks), as any other producer could; with
    ``signing_key``, signed as the engine signs an end, under that key."""
    raw = Producer(producer_config(stack.settings))
    value = encode_event(event)
    headers = signed(value, signing_key, end=True) if signing_key is not None else None
    raw.produce(stack.settings.executions_topic, key=event.execution_id.encode(), value=value, headers=headers)
    assert raw.flush(30) == 0


def as_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- first, while the executions topic is quiet: nothing in flight may move its end offsets ---------------------

def test_bad_input_raises_and_writes_nothing(stack: Stack, producer: KafkabanProducer):
    stack.register(NIGHTLY)
    before = executions_ends(stack)
    assert before, "the executions topic exists"
    bad: list[tuple[Callable[[], Any], str]] = [
        (lambda: producer.submit("no-such-flow", submitter="alice"), "flow 'no-such-flow' is not registered"),
        (lambda: producer.submit("nightly", version="sha256:" + "0" * 64, submitter="alice", params={"day": "d"}),
         "has no version"),
        (lambda: producer.submit("nightly", project="nowhere", submitter="alice"), "project 'nowhere' has no upload"),
        (lambda: producer.submit("nightly", submitter="alice"), "missing required params: day"),
        (lambda: producer.submit("nightly", submitter="alice", params={"day": "d", "command": "id"}),
         "would change what a job runs"),
        (lambda: producer.submit("nightly", submitter="alice", params={"day": 1}), "must be a string"),
        (lambda: producer.submit("nightly", submitter="", params={"day": "d"}), "submitter"),
        (lambda: producer.submit(definition="nodes: [", submitter="alice"), "not valid YAML"),
        (lambda: producer.submit(definition="nodes: [{name: a, type: noop, dependsOn: [ghost]}]", submitter="a"),
         "ghost"),
        # 16 params of 64 KiB: each within the API's limits, together more than one Kafka record holds
        (lambda: producer.submit("nightly", submitter="alice",
                                 params={"day": "d", **{f"p{i}": "x" * 65536 for i in range(16)}}),
         "fit in one Kafka record"),
        (lambda: producer.cancel("", requested_by="alice"), "execution id"),
        (lambda: KafkabanProducer(stack.settings, service="engine"), "Kafkaban's own parts"),
    ]
    for attempt, message in bad:
        with pytest.raises(SubmissionRefused, match=message):
            attempt()
    producer.close()  # flushes: nothing may be left in flight either
    assert executions_ends(stack) == before


# -- submit, read back, cancel, idempotency ---------------------------------------------------------------------

def test_an_inline_flow_is_submitted_read_back_and_run(stack: Stack, producer: KafkabanProducer):
    written = producer.submit(definition=HELLO, submitter="alice", params={"who": "another service"})
    assert written.topic == stack.settings.executions_topic and written.offset >= 0
    assert written.partition == home_partition(written.execution_id, stack.settings.partitions)  # murmur2
    execution = wait_projected(stack.url, written, stack.token)
    assert (execution["execution_id"], execution["flow_name"], execution["submitter"]) == (
        written.execution_id, "hello-inline", "alice")
    assert execution["version"] == load_flow(HELLO).version_hash()
    events = stack.api("GET", f"/api/v1/executions/{written.execution_id}/events")["events"]
    assert (events[0]["type"], events[0]["producer"], events[0]["event_id"]) == (
        "ExecutionSubmitted", "external", written.event_id)
    assert (events[0]["partition"], events[0]["offset"]) == (written.partition, written.offset)
    assert stack.wait_for(written.execution_id)["status"] == "SUCCEEDED"


def test_a_registered_flow_runs_its_latest_version_or_the_one_pinned(stack: Stack, producer: KafkabanProducer):
    first = stack.register(NIGHTLY)  # registered by the first test already: the same version
    second = stack.register(NIGHTLY.replace("echo loading", "echo loading again"))
    latest = producer.submit("nightly", submitter="alice", params={"day": "2026-12-01"})
    pinned = producer.submit("nightly", version=first["version"], submitter="alice", params={"day": "2026-12-01"})
    assert wait_projected(stack.url, latest, stack.token)["version"] == second["version"]
    assert wait_projected(stack.url, pinned, stack.token)["version"] == first["version"]
    for written in (latest, pinned):
        assert stack.wait_for(written.execution_id)["status"] == "SUCCEEDED"


def test_a_projects_flow_runs_in_the_archive_it_resolves_to(stack: Stack, producer: KafkabanProducer):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("p.project", "azkaban-flow-version: 2.0\n")
        archive.writestr("data/value.txt", "from the archive\n")
        archive.writestr("show.flow", "nodes:\n  - {name: show, type: command, config: {command: cat data/value.txt}}")
    uploaded = call(stack.url, "POST", "/api/v1/projects/reports", raw=data.getvalue(),
                    content_type="application/zip", token=stack.token)
    written = producer.submit("show", project="reports", submitter="alice", idempotency_key="reports/1")
    execution = stack.wait_for(written.execution_id)
    assert execution["status"] == "SUCCEEDED", execution["jobs"]
    assert (execution["project"], execution["archive"]) == ("reports", uploaded["archive"])
    # the API derives the same id from the same key: one rule for both
    answer = stack.api("POST", "/api/v1/executions", {"flow": "reports/show", "idempotency_key": "reports/1"})
    assert answer["execution_id"] == written.execution_id and answer["duplicate"] is True


def test_a_running_execution_is_cancelled(stack: Stack, producer: KafkabanProducer):
    written = producer.submit(definition=SLEEPER, submitter="alice")
    stack.wait_for(written.execution_id, {"RUNNING"}, job="nap")
    cancel = producer.cancel(written.execution_id, requested_by="bob", reason="no longer needed")
    assert (cancel.execution_id, cancel.partition) == (written.execution_id, written.partition)
    assert cancel.offset > written.offset
    assert wait_projected(stack.url, cancel, stack.token)["cancel_requested_by"] == "bob"
    execution = stack.wait_for(written.execution_id)
    assert execution["status"] == "CANCELLED"
    assert {job["job"]: job["status"] for job in execution["jobs"]} == {"nap": "CANCELLED", "after": "CANCELLED"}


def test_an_idempotency_key_submitted_twice_gives_one_execution(stack: Stack, producer: KafkabanProducer):
    key = f"invoices/{uuid.uuid4()}"
    first = producer.submit("nightly", submitter="alice", params={"day": "1"}, idempotency_key=key)
    again = producer.submit("nightly", submitter="bob", params={"day": "2"}, idempotency_key=key)
    assert again.execution_id == first.execution_id and again.event_id != first.event_id
    assert again.partition == first.partition and again.offset > first.offset
    execution = wait_projected(stack.url, again, stack.token)  # the views have read both records
    assert execution["submitter"] == "alice"  # the first submission stands
    answer = stack.api("POST", "/api/v1/executions", {"flow": "nightly", "params": {"day": "3"},
                                                      "idempotency_key": key})
    assert answer["execution_id"] == first.execution_id and answer["duplicate"] is True
    execution = stack.wait_for(first.execution_id)
    assert execution["status"] == "SUCCEEDED" and execution["params"] == {"day": "1"}
    assert [job["attempt"] for job in execution["jobs"]] == [1]
    listed = stack.api("GET", "/api/v1/executions?flow=nightly&limit=1000")["executions"]
    assert [row["execution_id"] for row in listed].count(first.execution_id) == 1


# -- following --------------------------------------------------------------------------------------------------

def test_the_follower_sees_each_end_as_the_views_do(stack: Stack, producer: KafkabanProducer,
                                                    public_only: Settings):
    failed = producer.submit(definition=FAILING, submitter="alice")
    # a submission whose hash is wrong is the engine's to reject: written raw, since the library refuses it
    spec = load_flow(HELLO)
    rejected = ev.Event(str(uuid.uuid4()), str(uuid.uuid4()), int(time.time() * 1000), "external",
                        ev.ExecutionSubmitted("hello-inline", "sha256:" + "0" * 64, spec, {"who": "x"}, "mallory"))
    write_raw(stack, rejected)
    # forged ends of a running execution: refused by admission, so it ends as it really does (cancelled)
    forged = producer.submit(definition=SLEEPER, submitter="alice")
    stack.wait_for(forged.execution_id, {"RUNNING"}, job="nap")
    # an engine decision from another producer; an unsigned one; one signed (HMAC and Ed25519) with another key
    for producer_name, signing_key in (("external", None), ("engine", None), ("engine", b"not the engine's key")):
        write_raw(stack, ev.Event(str(uuid.uuid4()), forged.execution_id, int(time.time() * 1000), producer_name,
                                  ev.ExecutionSucceeded()), signing_key)
    producer.cancel(forged.execution_id, requested_by="alice")
    for execution_id, status in ((failed.execution_id, "FAILED"), (rejected.execution_id, "REJECTED"),
                                 (forged.execution_id, "CANCELLED")):
        assert stack.wait_for(execution_id)["status"] == status

    views = {row["execution_id"]: row for row in stack.api("GET", "/api/v1/executions?limit=1000")["executions"]}
    assert all(row["ended_at"] for row in views.values()), "every execution of this stack has ended"
    ends = executions_ends(stack)
    with ExecutionFollower(public_only, f"billing-service.all-{uuid.uuid4().hex[:6]}") as follower:
        seen = follow_until(follower, read_to(follower, ends))
    assert len(seen) == len({end.execution_id for end in seen}), "one end per execution"
    assert {end.execution_id: (end.status.value, end.flow, end.ended_at, end.submitter) for end in seen} == {
        execution_id: (row["status"], row["flow_name"], as_time(row["ended_at"]), row["submitter"])
        for execution_id, row in views.items()}
    by_id = {end.execution_id: end for end in seen}
    assert by_id[failed.execution_id].failed_jobs == ("broken",)
    assert any("does not match the definition" in error for error in by_id[rejected.execution_id].errors)


def test_a_group_goes_on_from_its_commits_and_knows_the_flows_of_executions_open_before(
        stack: Stack, producer: KafkabanProducer, public_only: Settings):
    group = f"billing-service.resume-{uuid.uuid4().hex[:6]}"
    sleeping = producer.submit(definition=SLEEPER, submitter="alice")
    stack.wait_for(sleeping.execution_id, {"RUNNING"}, job="nap")
    ends = executions_ends(stack)
    assert ends[sleeping.partition] > sleeping.offset
    with ExecutionFollower(public_only, group) as first:
        handled = follow_until(first, read_to(first, ends))  # every end so far, committed; the sleeper is open
    assert sleeping.execution_id not in {end.execution_id for end in handled}

    producer.cancel(sleeping.execution_id, requested_by="alice")
    quick = producer.submit(definition=HELLO, submitter="alice", params={"who": "x"})
    for written in (sleeping, quick):
        stack.wait_for(written.execution_id)
    with ExecutionFollower(public_only, group) as second:
        later = follow_until(second, lambda seen: {sleeping.execution_id, quick.execution_id}
                             <= {end.execution_id for end in seen})
    assert {end.execution_id for end in later} == {sleeping.execution_id, quick.execution_id}  # nothing again
    by_id = {end.execution_id: end for end in later}
    # its submission lies before the group's commits: the follower read it back when it got the partition
    assert (by_id[sleeping.execution_id].flow, by_id[sleeping.execution_id].status.value) == ("sleeper", "CANCELLED")
    assert by_id[quick.execution_id].flow == "hello-inline"


def test_an_end_whose_handler_raised_is_delivered_again(stack: Stack, producer: KafkabanProducer,
                                                        public_only: Settings):
    group = f"billing-service.retry-{uuid.uuid4().hex[:6]}"
    written = producer.submit(definition=HELLO, submitter="alice", params={"who": "x"})
    stack.wait_for(written.execution_id)
    handled: list[str] = []

    def handle(end: ExecutionEnded) -> None:
        if end.execution_id == written.execution_id:
            raise RuntimeError("the handler failed")
        handled.append(end.execution_id)

    follow = example("follow_executions").follow
    with pytest.raises(RuntimeError, match="the handler failed"):
        follow(public_only, group, handle=handle, count=len(views_ended(stack)))
    again = follow(public_only, group, handle=lambda end: None,
                   count=len(views_ended(stack)) - len(handled))
    assert written.execution_id in {end.execution_id for end in again}
    assert not {end.execution_id for end in again} & set(handled), "what was handled was committed"


def views_ended(stack: Stack) -> list[str]:
    return [row["execution_id"] for row in stack.api("GET", "/api/v1/executions?limit=1000")["executions"]
            if row["ended_at"]]


def test_the_example_submits_reads_back_and_follows_to_the_end(stack: Stack, public_only: Settings):
    end = example("external_producer").run(public_only, stack.url, stack.token)
    assert end.status.value == "SUCCEEDED" and end.flow == "external"
    execution = stack.execution(end.execution_id)
    assert execution is not None and execution["submitter"] == "billing-service"
    assert as_time(execution["ended_at"]) == end.ended_at

