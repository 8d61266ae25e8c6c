"""Records another service produces with its client's defaults: any partitioner, any partition. Each record that
lands on another partition than its key's is forwarded by the engine to its key's partition and folded there
only, so every execution ends once and the views, `replay verify` and the audit agree with the log.

The producers here are configured as another team would configure them: confluent-kafka with nothing but
`bootstrap.servers` (librdkafka's default partitioner, consistent_random), with `partitioner=random`, and with an
explicit partition that is not the key's. The records are encoded with the project's own codec."""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from engine.audit import history_from_kafka
from engine.codec import encode_event
from engine.codec.admission import home_partition
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.kafka import admin_config
from engine.processor.app import app_id
from projections.verify import verify
from tests.integration.stack import Stack

PARTITIONS = 6  # with 6, five keys in six land elsewhere under a partitioner that is not murmur2
CHAIN = load_flow("name: chain\nnodes:\n"
                  "  - {name: a, type: noop}\n"
                  "  - {name: b, type: noop, dependsOn: [a]}\n"
                  "  - {name: c, type: noop, dependsOn: [b]}\n")
SLEEPER = load_flow("name: sleeper\nnodes:\n  - {name: nap, type: command, config: {command: sleep 120}}\n")


@pytest.fixture(scope="module")
def stack(bootstrap: str, new_database: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(bootstrap, new_database(), Path(tmp_path_factory.mktemp("misplaced-logs")), partitions=PARTITIONS)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def submission(service: str, flow: Any) -> ev.Event:
    execution_id = str(uuid.uuid4())
    return ev.Event(str(uuid.uuid4()), execution_id, int(time.time() * 1000), "external",
                    ev.ExecutionSubmitted(flow.name, flow.version_hash(), flow, {}, service))


def cancel(service: str, execution_id: str) -> ev.Event:
    return ev.Event(str(uuid.uuid4()), execution_id, int(time.time() * 1000), "external",
                    ev.CancelRequested(service, "no longer needed"))


class Client:
    """A confluent-kafka producer as its team configures it; ``wrong`` sends every record to a partition that is
    not its key's."""

    def __init__(self, stack: Stack, config: dict[str, str], wrong: bool = False) -> None:
        self.producer = Producer({"bootstrap.servers": stack.settings.require_bootstrap(), **config})
        self.topic, self.wrong = stack.settings.executions_topic, wrong
        self.placed: list[tuple[str, int]] = []  # (execution id, partition it landed on)

    def send(self, events: list[ev.Event]) -> None:
        def delivered(err: Any, message: Any) -> None:
            assert err is None, err
            self.placed.append((message.key().decode(), message.partition()))

        for event in events:
            extra = {}
            if self.wrong:
                extra["partition"] = (home_partition(event.execution_id, PARTITIONS) + 1) % PARTITIONS
            self.producer.produce(self.topic, key=event.execution_id.encode(), value=encode_event(event),
                                  on_delivery=delivered, **extra)
        assert self.producer.flush(30) == 0

    def misplaced(self) -> int:
        return sum(partition != home_partition(key, PARTITIONS) for key, partition in self.placed)


def wait_all(stack: Stack, ids: list[str], statuses: set[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for execution_id in ids:
            if execution_id not in found:
                execution = stack.execution(execution_id)
                if execution is not None and execution["status"] in statuses:
                    found[execution_id] = execution
        if len(found) == len(ids):
            return found
        time.sleep(0.3)
    missing = [i for i in ids if i not in found]
    raise AssertionError(f"{len(missing)} of {len(ids)} executions did not reach {statuses}: "
                         f"{[stack.execution(i) for i in missing[:3]]}\n{stack.logs()}")


def misplaced_metric(stack: Stack) -> int:
    text = metrics_text(stack)
    match = re.search(r'kafkaban_misplaced_records_total\{topic="[^"]+\.executions",producer="external"\} (\d+)', text)
    return int(match.group(1)) if match else 0


def metrics_text(stack: Stack) -> str:
    import urllib.request
    request = urllib.request.Request(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {stack.token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


def engines_owning_executions(stack: Stack) -> int:
    """How many members of the engine's group hold partitions of the executions topic."""
    admin = AdminClient(admin_config(stack.settings))
    group = app_id(stack.settings)
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    topic = stack.settings.executions_topic
    return sum(any(tp.topic == topic for tp in member.assignment.topic_partitions) for member in description.members)


def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {what}")


def run_burst(stack: Stack, producer: str, config: dict[str, str], wrong: bool, count: int = 30) -> None:
    client = Client(stack, config, wrong)
    counted = misplaced_metric(stack)
    chains = [submission(producer, CHAIN) for _ in range(count)]
    sleepers = [submission(producer, SLEEPER) for _ in range(2)]
    client.send(chains + sleepers)
    ended = wait_all(stack, [e.execution_id for e in chains], {"SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"})
    assert {e["status"] for e in ended.values()} == {"SUCCEEDED"}, ended
    assert all(len(e["jobs"]) == 3 and {j["status"] for j in e["jobs"]} == {"SUCCEEDED"} for e in ended.values())

    # a cancel from the same client, once the service sees its execution running (as it would before cancelling)
    wait_all(stack, [e.execution_id for e in sleepers], {"RUNNING"})
    client.send([cancel(producer, e.execution_id) for e in sleepers])
    cancelled = wait_all(stack, [e.execution_id for e in sleepers], {"CANCELLED", "SUCCEEDED", "FAILED"})
    assert {e["status"] for e in cancelled.values()} == {"CANCELLED"}, cancelled

    misplaced = client.misplaced()
    assert misplaced > 0, "the client put every record on its key's partition: this test would show nothing"
    # each misplaced record counted once, however often the projector met it
    until(lambda: misplaced_metric(stack) == counted + misplaced, 30,
          f"{counted} + {misplaced} misplaced records on /metrics, not {misplaced_metric(stack)}")

    # the audit finds the whole execution on its own partition, one ending: each read of a partition waits for its
    # end to settle, so a few misplaced chains and every cancelled one, not all
    landed = dict(client.placed)
    strays = [e for e in chains if landed[e.execution_id] != home_partition(e.execution_id, PARTITIONS)][:3]
    for event in strays + sleepers:
        history = history_from_kafka(stack.settings, event.execution_id)
        types = [logged.event.type for logged in history]
        assert types[0] == "ExecutionSubmitted", types
        assert sum(isinstance(logged.event.payload, ev.ENDING_EVENTS) for logged in history) == 1, types
        assert {logged.partition for logged in history} == {home_partition(event.execution_id, PARTITIONS)}

    report = until(lambda: (r := verify(stack.settings)).lag == 0 and r, 60, "the projector caught up")
    assert report.ok, report.mismatches[:5]
    assert report.misplaced >= misplaced


@pytest.mark.parametrize(("producer", "config", "wrong"), [
    ("defaults", {}, False),  # librdkafka's default partitioner: consistent_random, CRC32
    ("random", {"partitioner": "random"}, False),
    ("explicit", {}, True),
])
def test_records_on_any_partition_end_once_and_the_views_equal_the_log(stack: Stack, producer: str,
                                                                       config: dict[str, str], wrong: bool) -> None:
    run_burst(stack, producer, config, wrong)
    # its operators hear once which partitioner to use
    assert stack.log("engine").count(f"producer external ({producer}) writes records to other partitions") == 1


def test_with_two_engines_a_record_forwarded_to_the_other_engines_partition_runs_there(stack: Stack) -> None:
    second = stack.spawn("engine-2", "engine")  # the group shares the six partitions out between the two
    try:
        until(lambda: engines_owning_executions(stack) == 2, 90, "both engines owning partitions of the executions")
        run_burst(stack, "two-engines", {}, False)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
