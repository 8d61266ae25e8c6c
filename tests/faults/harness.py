"""The fault harness: real parts as processes on a broker and a PostgreSQL of their own, a load of executions with
short command jobs, faults injected while it runs, and an oracle that checks the result three ways: the ledger
the jobs write (execution, job, attempt, worker, pid, start/end), the log, and the views.

Used small by tests/faults/test_fault_suite.py (behaviour, in CI) and at full size by bench/faults.py (figures).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pgserver  # type: ignore[import-untyped]
import psycopg
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from engine.broker.kafka_server import DEFAULT_HEAP, KafkaCluster
from engine.client import ApiFailure, ApiUnreachable
from engine.clock import now_ms
from engine.codec import encode_event
from engine.codec.admission import Refused, admit
from engine.codec.partitioning import Placement
from engine.domain import events as ev
from engine.domain.evolve import evolve
from engine.domain.loader import load_flow
from engine.domain.state import ExecutionState
from engine.kafka import HEADER_TOPIC, consumer_config, producer_config
from engine.log_reader import high_watermarks, partitions_of, read_records
from projections import queries
from projections.db import connect
from projections.verify import verify
from tests.integration.stack import Stack

LEASE_S = 3


def flow_source(ledger: Path) -> str:
    """Two chained command jobs that write a start and an end line each to the ledger (one write per line, in
    append mode: lines of concurrent jobs never interleave)."""
    def line(what: str) -> str:
        return (f"printf '%s %s %s %s %s {what}\\n' \"$KAFKABAN_EXECUTION_ID\" \"$KAFKABAN_JOB\" "
                f"\"$KAFKABAN_ATTEMPT\" \"$KAFKABAN_WORKER_ID\" \"$$\" >> {ledger}")

    def job(name: str, depends_on: list[str]) -> dict[str, Any]:
        return {"name": name, "type": "command", "dependsOn": depends_on, "lease": f"{LEASE_S}s",
                "retry": {"max_lost": 10}, "config": {"command": f"{line('start')}; sleep 0.3; {line('end')}"}}

    return yaml.safe_dump({"name": "ledgered", "nodes": [job("a", []), job("b", ["a"])]}, sort_keys=False)


@dataclass
class Figures:
    fault: str
    submitted: int = 0
    ended: int = 0
    lost: int = 0  # accepted, and not in the log
    stuck: int = 0  # in the log, and not ended when the load settled
    duplicate_terminals: int = 0  # executions with more than one ending event
    attempts_run_twice: int = 0  # one (execution, job, attempt) started by more than one process
    attempts_completed_twice: int = 0  # ... and run to its end by more than one
    stale_reports_rejected: int = 0  # worker results the log holds and the fold ignored
    poison_sent: int = 0
    dead_letters: int = 0
    poison_dead_letterable: int = 0
    recovery_s: float | None = None  # from the fault's end to the next execution ending
    views_caught_up_s: float | None = None  # from the fault's end until the views hold the log as it was then
    verify_ok: bool = False
    verify_lag: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return (self.lost == 0 and self.stuck == 0 and self.duplicate_terminals == 0 and self.attempts_run_twice == 0
                and self.dead_letters == self.poison_dead_letterable and self.verify_ok)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "notes"}


class Services:
    """An Apache Kafka of ``nodes`` nodes and a PostgreSQL that the faults may kill, freeze or stop."""

    def __init__(self, root: Path, nodes: int = 1) -> None:
        self.root = root
        # three nodes fence a silent one after 3 s (not 9), as tests/faults/test_kafka_cluster.py does
        self.kafka = KafkaCluster(root / "kafka", size=nodes, heap="384m" if nodes > 1 else DEFAULT_HEAP,
                                  fast_failover=nodes > 1).start()
        self.pg_dir = root / "pg"
        self.pg = pgserver.get_server(str(self.pg_dir), cleanup_mode="stop")
        self.database_url = self.pg.get_uri()

    def stop_database(self) -> None:
        self.pg.cleanup()

    def start_database(self) -> None:
        self.pg = pgserver.get_server(str(self.pg_dir), cleanup_mode="stop")

    def close(self) -> None:
        self.kafka.stop()
        self.pg.cleanup()


@contextmanager
def services(root: Path, nodes: int = 1) -> Iterator[Services]:
    running = Services(root, nodes)
    try:
        yield running
    finally:
        running.close()


class Run:
    """One load on one stack, with its ledger, its poison, and the times executions ended."""

    def __init__(self, services: Services, root: Path, workers: int = 2, partitions: int = 3,
                 extra_env: dict[str, str] | None = None) -> None:
        self.services = services
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.ledger = root / "ledger.txt"
        self.ledger.touch()
        self.stack = Stack(services.kafka.bootstrap, services.database_url, root, partitions=partitions,
                           extra_env={"KAFKABAN_DISPATCH_TIMEOUT": "20",
                                      "KAFKABAN_REPLICATION": str(min(len(services.kafka.nodes), 3)),
                                      **(extra_env or {})})
        self.stack.start()
        for n in range(2, workers + 1):
            self.stack.spawn(f"worker-{n}", "worker", "--pool", "default", "--slots", "4")
        self.flow = flow_source(self.ledger)
        self.accepted: list[str] = []
        self.poison: Counter[str] = Counter()
        self.ended_at: list[float] = []  # wall times of ending events, as the watcher read them
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.stopping = threading.Event()
        self.watcher.start()

    # -- load ---------------------------------------------------------------------------------------------------

    def submit(self, count: int, per_second: float, poison_every: int = 0) -> None:
        """Submit ``count`` executions at about ``per_second``, through the API, riding out its 503s (a refused
        submission is retried; an accepted one is never resubmitted); every ``poison_every``-th, a poison record
        straight to Kafka as well."""
        producer = Producer(producer_config(self.stack.settings))
        kinds = ["undecodable", "forged engine event", "decision by a worker", "deep condition", "nul"]
        for index in range(count):
            started = time.monotonic()
            while True:
                try:
                    answer = self.stack.api("POST", "/api/v1/executions", {"definition": self.flow}, timeout=30)
                    self.accepted.append(answer["execution_id"])
                    break
                except (ApiFailure, ApiUnreachable):
                    time.sleep(0.5)
            if poison_every and index % poison_every == poison_every - 1:
                kind = kinds[self.poison.total() % len(kinds)]
                self._poison(producer, kind)
                self.poison[kind] += 1
            time.sleep(max(0.0, 1 / per_second - (time.monotonic() - started)))
        producer.flush(30)

    def _poison(self, producer: Producer, kind: str) -> None:
        topic = self.stack.settings.executions_topic
        target = self.accepted[-1]
        if kind == "undecodable":
            producer.produce(topic, key=target.encode(), value=b"\xc3\x01 not avro")
            return
        if kind == "forged engine event":
            event = ev.Event(str(uuid.uuid4()), target, now_ms(), "engine", ev.ExecutionFailed(("a",)),
                             causation_id=str(uuid.uuid4()))
        elif kind == "decision by a worker":
            event = ev.Event(str(uuid.uuid4()), target, now_ms(), "worker", ev.ExecutionSucceeded())
        else:
            spec = load_flow(self.flow)
            if kind == "deep condition":
                spec = dataclasses.replace(spec, jobs=tuple(
                    dataclasses.replace(j, condition="(" * 3000 + "true" + ")" * 3000) for j in spec.jobs))
            execution_id = str(uuid.uuid4())
            event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "external", ev.ExecutionSubmitted(
                spec.name, spec.version_hash(), spec, {"p\x00": "v\x00"} if kind == "nul" else {},
                "fault\x00harness" if kind == "nul" else "fault harness"))
            self.accepted.append(execution_id)  # it must end too: REJECTED, or run with its NULs
            target = execution_id
        producer.produce(topic, key=target.encode(), value=encode_event(event))

    @property
    def dead_letterable_poison(self) -> int:
        return sum(n for kind, n in self.poison.items()
                   if kind in ("undecodable", "forged engine event", "decision by a worker"))

    # -- watching -----------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        settings = self.stack.settings
        consumer = Consumer(consumer_config(settings, f"harness-{uuid.uuid4()}", **{"enable.auto.commit": False}))
        topic = settings.executions_topic
        partitions = partitions_of(settings, topic)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        key = settings.signing_key()
        while not self.stopping.is_set():
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            try:
                event = admit(message.key(), message.value(), message.headers(), key,
                              at=Placement(message.partition(), len(partitions)))
            except Refused:
                continue
            if isinstance(event.payload, ev.ENDING_EVENTS):
                self.ended_at.append(time.monotonic())
        consumer.close()

    def recovery_after(self, moment: float, timeout: float = 120) -> float | None:
        """Seconds from ``moment`` to the first execution ending after it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.ended_at if t > moment]
            if later:
                return min(later) - moment
            time.sleep(0.1)
        return None

    def longest_pause(self, moment: float, window: float = 60.0) -> float | None:
        """The longest wait between two executions ending, from the last end before ``moment`` to ``window``
        seconds after it: how long processing paused around a fault or a rebalance."""
        before = [t for t in self.ended_at if t <= moment]
        times = sorted(([before[-1]] if before else [moment]) +
                       [t for t in self.ended_at if moment < t <= moment + window])
        if len(times) < 2:
            return None
        return max(b - a for a, b in pairwise(times))

    def views_caught_up_after(self, moment: float, timeout: float = 300) -> float | None:
        """Seconds from ``moment`` until the views hold everything the executions log held at that moment (the
        projector's stored positions reach the log's end as it was then)."""
        settings = self.stack.settings
        topic = settings.executions_topic
        deadline = time.monotonic() + timeout
        while True:  # a broker just resumed may not know its partitions for a moment
            try:
                ends = high_watermarks(settings, topic)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.2)
        while time.monotonic() < deadline:
            try:
                with connect(settings.require_database(), settings.database_schema) as conn:
                    positions = queries.projected_offsets(conn)
                if all(positions.get((topic, p), 0) >= end for p, end in ends.items()):
                    return time.monotonic() - moment
            except psycopg.Error:
                pass  # PostgreSQL still coming back
            time.sleep(0.1)
        return None

    # -- faults -------------------------------------------------------------------------------------------------

    def kill_part(self, name: str, argv: tuple[str, ...]) -> float:
        process = self.stack.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.stack.spawn(name, *argv)
        return time.monotonic()

    def freeze_part(self, name: str, seconds: float) -> float:
        process = self.stack.processes[name]
        process.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        process.send_signal(signal.SIGCONT)
        return time.monotonic()

    def stop_database(self, seconds: float) -> float:
        self.services.stop_database()
        time.sleep(seconds)
        self.services.start_database()
        return time.monotonic()

    def freeze_broker(self, seconds: float) -> float:
        node = self.services.kafka.nodes[0]
        node.pause()
        time.sleep(seconds)
        node.resume()
        return time.monotonic()

    def _busiest_leader(self) -> int:
        """The node leading the most executions partitions: the one whose loss moves the most."""
        leaders = self.services.kafka.leaders(self.stack.settings.executions_topic)
        return Counter(leaders.values()).most_common(1)[0][0]

    def kill_node(self, seconds: float) -> float:
        victim = self._busiest_leader()
        self.services.kafka.node(victim).kill()
        time.sleep(seconds)
        self.services.kafka.start_node(victim)
        return time.monotonic()

    def freeze_node(self, seconds: float) -> float:
        node = self.services.kafka.node(self._busiest_leader())
        node.pause()
        time.sleep(seconds)
        node.resume()
        return time.monotonic()

    # -- the oracle ---------------------------------------------------------------------------------------------

    def settle(self, timeout: float) -> None:
        """Wait until every accepted execution has ended in the log, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.ended_at) >= len(self.accepted):
                break
            time.sleep(0.5)

    def judge(self, fault: str, recovery_s: float | None, started: float) -> Figures:
        settings = self.stack.settings
        figures = Figures(fault, submitted=len(self.accepted), recovery_s=recovery_s,
                          poison_sent=self.poison.total(), poison_dead_letterable=self.dead_letterable_poison)
        key = settings.signing_key()
        topic = settings.executions_topic
        states: dict[str, ExecutionState | None] = {}
        endings: dict[str, set[str]] = defaultdict(set)  # distinct ending events (a re-read record is one)
        highs = high_watermarks(settings, topic)
        partitions = partitions_of(settings, topic)
        for partition in partitions:
            read = refused = 0
            for _offset, record_key, value, headers in read_records(settings, topic, partition):
                read += 1
                try:
                    event = admit(record_key, value, headers, key, at=Placement(partition, len(partitions)))
                except Refused:
                    refused += 1
                    continue
                before = states.get(event.execution_id)
                after = evolve(before, event)
                if isinstance(event.payload, ev.ENDING_EVENTS):
                    endings[event.execution_id].add(event.event_id)
                if event.producer == "worker" and isinstance(event.payload, ev.JobSucceeded | ev.JobFailed) \
                        and after is before:
                    figures.stale_reports_rejected += 1
                states[event.execution_id] = after
            figures.notes.append(f"{topic}[{partition}]: read {read} of {highs.get(partition)} ({refused} refused)")
        for execution_id in self.accepted:
            state = states.get(execution_id)
            if state is None:
                figures.lost += 1
            elif not state.terminal:
                figures.stuck += 1
            else:
                figures.ended += 1
        figures.duplicate_terminals = sum(1 for ids in endings.values() if len(ids) > 1)
        figures.attempts_run_twice, figures.attempts_completed_twice = self._attempts_run_twice()
        figures.dead_letters = self._dead_letters()
        deadline = time.monotonic() + 60
        report = verify(settings, max_lag=0)
        while not report.ok and time.monotonic() < deadline:  # the projector may still be catching up
            time.sleep(1)
            report = verify(settings, max_lag=0)
        figures.verify_ok, figures.verify_lag = report.ok, report.lag
        figures.notes += report.mismatches[:5]
        figures.seconds = time.monotonic() - started
        return figures

    def _attempts_run_twice(self) -> tuple[int, int]:
        """(attempts started by more than one process, attempts that more than one process ran to its end)."""
        runs: dict[str, dict[tuple[str, str, str], set[tuple[str, str]]]] = {"start": defaultdict(set),
                                                                            "end": defaultdict(set)}
        for line in self.ledger.read_text(errors="replace").splitlines():
            parts = line.split(" ")
            if len(parts) == 6 and parts[5] in runs:
                execution_id, job, attempt, worker, pid, what = parts
                runs[what][(execution_id, job, attempt)].add((worker, pid))
        return tuple(sum(1 for copies in runs[what].values() if len(copies) > 1)  # type: ignore[return-value]
                     for what in ("start", "end"))

    def _dead_letters(self) -> int:
        settings = self.stack.settings
        topic = settings.executions_topic.encode()
        count = 0
        for partition in partitions_of(settings, settings.deadletter_topic):
            for _offset, _key, _value, headers in read_records(settings, settings.deadletter_topic, partition):
                if dict(headers).get(HEADER_TOPIC) == topic:
                    count += 1
        return count

    def close(self) -> None:
        self.stopping.set()
        self.watcher.join(5)
        self.stack.stop()


FAULTS: dict[str, Callable[[Run, float], float]] = {
    "worker SIGKILL": lambda run, _: run.kill_part("worker-default", ("worker", "--pool", "default", "--slots", "4")),
    "engine SIGKILL": lambda run, _: run.kill_part("engine", ("engine",)),
    "projector SIGKILL": lambda run, _: run.kill_part("projector", ("projector",)),
    "worker SIGSTOP past its lease": lambda run, _: run.freeze_part("worker-default", LEASE_S * 2 + 1),
    "PostgreSQL stopped": lambda run, seconds: run.stop_database(seconds),
    "broker SIGSTOP": lambda run, seconds: run.freeze_broker(seconds),
}
CLUSTER_FAULTS: dict[str, Callable[[Run, float], float]] = {  # on 3 nodes: replication 3, min.insync.replicas 2
    "cluster node SIGKILL": lambda run, seconds: run.kill_node(seconds),
    "cluster node SIGSTOP": lambda run, seconds: run.freeze_node(seconds),
}
