"""Broker faults on a 3-node Apache Kafka cluster (replication 3, min.insync.replicas 2, idempotent acks=all
producers): the node leading the executions partitions dies under load and comes back, and every execution
still ends exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from engine.broker.kafka_server import KafkaCluster
from engine.codec import decode_event
from engine.domain import events as ev
from engine.log_reader import partitions_of, read_partition
from tests.integration.stack import Stack

FLOW = """
name: steady
nodes:
  - {name: a, type: command, config: {command: "sleep 0.2"}}
  - {name: b, type: command, config: {command: "sleep 0.2"}, dependsOn: [a]}
  - {name: c, type: command, config: {command: "sleep 0.2"}, dependsOn: [b]}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    running = KafkaCluster(tmp_path_factory.mktemp("kafka3"), size=3, heap="384m", fast_failover=True).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stack(cluster: KafkaCluster, new_database: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = Path(tmp_path_factory.mktemp("cluster-stack-logs"))
    running = Stack(cluster.bootstrap, new_database(), logs, partitions=3,  # type: ignore[operator]
                    extra_env={"KAFKABAN_REPLICATION": "3"})
    running.start()
    try:
        yield running
    finally:
        running.stop()


def leaders_without(cluster: KafkaCluster, topic: str, victim: int, timeout: float = 30.0) -> dict[int, int]:
    """The topic's leaders once none is ``victim`` (the controller fences a silent node after its 3 s session,
    and metadata reaches every node shortly after); fails if that has not happened within ``timeout``."""
    deadline = time.monotonic() + timeout
    leaders = cluster.leaders(topic)
    while victim in leaders.values() and time.monotonic() < deadline:
        time.sleep(0.5)
        leaders = cluster.leaders(topic)
    assert victim not in leaders.values(), f"leadership did not move off node {victim} in {timeout} s: {leaders}"
    return leaders


def ending_events(stack: Stack) -> dict[str, set[tuple[str, str]]]:
    """execution id -> {(event type, event id)} of the events that ended it, as read from the executions log.

    A set: at least once, a decision may be appended twice with the same id (the fold drops the copy); two
    different ids, or two different endings, would be an execution that ended twice."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    topic = stack.settings.executions_topic
    for partition in partitions_of(stack.settings, topic):
        for _offset, _key, value in read_partition(stack.settings, topic, partition):
            event = decode_event(value)
            if isinstance(event.payload, ev.ENDING_EVENTS):
                found[event.execution_id].add((event.type, event.event_id))
    return found


def test_leader_of_the_executions_partitions_killed_under_load_every_execution_ends_once(
        cluster: KafkaCluster, stack: Stack) -> None:
    topic = stack.settings.executions_topic
    leaders = cluster.leaders(topic)
    assert set(leaders.values()) <= {1, 2, 3}
    # the replication the cluster promises
    metadata = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(topic, timeout=10).topics[topic]
    assert all(len(p.replicas) == 3 for p in metadata.partitions.values())

    stack.register(FLOW)
    submitted: list[str] = [stack.submit("steady") for _ in range(30)]
    victim = Counter(leaders.values()).most_common(1)[0][0]
    errors: list[BaseException] = []

    def keep_submitting() -> None:  # more load while the leader is gone: the API must still take submissions
        try:
            for _ in range(20):
                submitted.append(stack.submit("steady"))
                time.sleep(0.1)
        except BaseException as exc:
            errors.append(exc)

    time.sleep(1.0)
    cluster.node(victim).kill()
    during = threading.Thread(target=keep_submitting)
    during.start()
    moved = leaders_without(cluster, topic, victim)
    time.sleep(2)  # a little more of the outage, under load
    cluster.start_node(victim)
    during.join(120)
    assert not during.is_alive() and not errors, errors

    for execution_id in submitted:
        done = stack.wait_for(execution_id, timeout=180)
        assert done["status"] == "SUCCEEDED", done

    ends = ending_events(stack)
    for execution_id in submitted:
        assert len(ends[execution_id]) == 1, (execution_id, ends[execution_id])
        assert next(iter(ends[execution_id]))[0] == "ExecutionSucceeded"
    print(f"killed node {victim} (leader of {sum(1 for n in leaders.values() if n == victim)} of {len(leaders)} "
          f"partitions); {len(submitted)} executions each ended once; leaders after: {moved}")


def test_a_node_frozen_by_sigstop_then_resumed_loses_nothing(cluster: KafkaCluster, stack: Stack) -> None:
    """SIGSTOP keeps the node's sockets open but silent (a long GC pause, a network cut) past the 3 s broker
    session, so the controller fences it and leadership moves; once resumed it rejoins, and every execution
    submitted before, during and after ends exactly once."""
    topic = stack.settings.executions_topic
    stack.register(FLOW)
    victim = Counter(cluster.leaders(topic).values()).most_common(1)[0][0]
    submitted = [stack.submit("steady") for _ in range(10)]
    cluster.node(victim).pause()
    try:
        leaders_without(cluster, topic, victim)
        time.sleep(2)
    finally:
        cluster.node(victim).resume()
    submitted += [stack.submit("steady") for _ in range(10)]
    for execution_id in submitted:
        assert stack.wait_for(execution_id, timeout=180)["status"] == "SUCCEEDED"
    ends = ending_events(stack)
    assert all(len(ends[e]) == 1 for e in submitted), {e: ends[e] for e in submitted if len(ends[e]) != 1}
