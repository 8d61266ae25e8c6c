"""Benchmarks that need the broker (and PostgreSQL): each against a raw baseline measured in the same run."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from engine.codec import decode_event, encode_event
from engine.codec.json_events import event_to_json
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.domain.spec import FlowSpec
from engine.kafka import consumer_config, ensure_topics, producer_config
from projections.db import connect
from projections.rebuild import rebuild, replay_into
from projections.verify import verify


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def submission(spec: FlowSpec, execution_id: str | None = None) -> tuple[str, bytes]:
    execution_id = execution_id or str(uuid.uuid4())
    event = ev.Event(str(uuid.uuid4()), execution_id, int(time.time() * 1000), "api",
                     ev.ExecutionSubmitted(spec.name, spec.version_hash(), spec, {}, "bench"))
    return execution_id, encode_event(event)


def flow(shape: str, jobs: int) -> FlowSpec:
    if shape == "chain":
        nodes = ["  - {name: j0, type: noop}"] + [f"  - {{name: j{i}, type: noop, dependsOn: [j{i - 1}]}}"
                                                  for i in range(1, jobs)]
    elif shape == "fanout":
        nodes = ["  - {name: j0, type: noop}"] + [f"  - {{name: j{i}, type: noop, dependsOn: [j0]}}"
                                                  for i in range(1, jobs)]
    else:
        nodes = ["  - {name: j0, type: noop}"]
    return load_flow(f"name: {shape}{jobs}\nnodes:\n" + "\n".join(nodes))


class Watcher:
    """Consumes topics from their start in a thread and calls ``on_message`` for each record."""

    def __init__(self, settings: Settings, topics: list[str], on_message: Callable[[Any, float], None]) -> None:
        self.consumer = Consumer(consumer_config(settings, f"bench-{uuid.uuid4()}",
                                                 **{"enable.auto.commit": False, "fetch.wait.max.ms": 5}))
        assignment = []
        for topic in topics:
            partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        self.consumer.assign(assignment)
        self.on_message = on_message
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            message = self.consumer.poll(0.05)  # returns as soon as one record is there: no added latency
            if message is not None and message.error() is None:
                self.on_message(message, time.perf_counter())

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.consumer.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s")
        time.sleep(0.005)


# -- fold throughput -------------------------------------------------------------------------------------------

def fold_throughput(settings: Settings, count: int) -> dict[str, Any]:
    """Submissions of a one-job flow through a running processor (each: 1 input, 2 derived events written and
    read back, 1 dispatch) against a raw consume-then-produce loop over the same Avro records."""
    spec = flow("single", 1)
    records = [submission(spec) for _ in range(count)]
    dispatched: list[float] = []
    watcher = Watcher(settings, [settings.dispatch_topic("default")], lambda m, t: dispatched.append(t))
    producer = Producer(producer_config(settings))
    key, value = submission(spec)
    producer.produce(settings.executions_topic, key=key.encode(), value=value)  # warm-up: the engine has joined
    producer.flush(10)
    wait_until(lambda: len(dispatched) >= 1, 120, "the processor's first dispatch")
    started = time.perf_counter()
    for key, value in records:
        producer.produce(settings.executions_topic, key=key.encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    wait_until(lambda: len(dispatched) >= count + 1, 600, f"{count} dispatches")
    engine_s = dispatched[-1] - started
    watcher.stop()

    raw_in, raw_out = settings.topic("raw-in"), settings.topic("raw-out")
    ensure_topics(settings, [raw_in, raw_out])
    for key, value in records:
        producer.produce(raw_in, key=key.encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    consumer = Consumer(consumer_config(settings, f"bench-raw-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    partitions = consumer.list_topics(raw_in, timeout=10).topics[raw_in].partitions
    consumer.assign([TopicPartition(raw_in, p, OFFSET_BEGINNING) for p in partitions])
    out = Producer(producer_config(settings))
    moved = 0
    started = time.perf_counter()
    while moved < count:
        for message in consumer.consume(1000, timeout=0.5):
            if message.error() is None:
                out.produce(raw_out, key=message.key(), value=message.value())
                moved += 1
        out.poll(0)
    out.flush(30)
    raw_s = time.perf_counter() - started
    consumer.close()
    engine_rate, raw_rate = count / engine_s, count / raw_s
    return {"inputs": count, "engine_s": round(engine_s, 3), "engine_inputs_per_s": round(engine_rate),
            "engine_events_per_s": round(3 * engine_rate), "raw_s": round(raw_s, 3),
            "raw_events_per_s": round(raw_rate), "ratio": round(engine_rate / raw_rate, 3)}


# -- dispatch latency ------------------------------------------------------------------------------------------

def dispatch_latency(settings: Settings, count: int, gap_s: float = 0.02) -> dict[str, Any]:
    """One submission at a time: submit -> DispatchJob seen, submit -> JobStarted seen, against a raw hop."""
    spec = flow("single", 1)
    sent: dict[str, float] = {}
    to_dispatch: dict[str, float] = {}
    to_start: dict[str, float] = {}

    def seen(message: Any, at: float) -> None:
        key = message.key().decode() if message.key() else ""
        if key not in sent:
            return
        if message.topic() == settings.dispatch_topic("default"):
            to_dispatch.setdefault(key, (at - sent[key]) * 1000)
        elif message.value()[:2] == b"\xc3\x01":
            try:
                event = decode_event(message.value())
            except Exception:
                return
            if isinstance(event.payload, ev.JobStarted):
                to_start.setdefault(key, (at - sent[key]) * 1000)

    watcher = Watcher(settings, [settings.dispatch_topic("default"), settings.executions_topic], seen)
    time.sleep(1.0)
    producer = Producer(producer_config(settings))
    for _ in range(count):
        key, value = submission(spec)
        sent[key] = time.perf_counter()
        producer.produce(settings.executions_topic, key=key.encode(), value=value)
        producer.poll(0)
        wait_until(lambda k=key: k in to_start, 60, "a job start")
        time.sleep(gap_s)
    watcher.stop()

    raw = settings.topic("raw-hop")
    ensure_topics(settings, [raw])
    hops: list[float] = []
    stamps: dict[bytes, float] = {}
    hop_watcher = Watcher(settings, [raw], lambda m, t: hops.append((t - stamps[m.key()]) * 1000))
    time.sleep(1.0)
    _, value = submission(spec)
    for i in range(count):
        key = str(i).encode()
        stamps[key] = time.perf_counter()
        producer.produce(raw, key=key, value=value)
        producer.poll(0)
        wait_until(lambda n=i: len(hops) > n, 30, "a raw hop")
        time.sleep(gap_s)
    hop_watcher.stop()
    dispatch, start, hop = (percentiles(list(to_dispatch.values())), percentiles(list(to_start.values())),
                            percentiles(hops))
    return {"samples": count, "submit_to_dispatch_ms": dispatch, "submit_to_start_ms": start, "raw_hop_ms": hop,
            "dispatch_p99_ratio": round(dispatch["p99"] / hop["p99"], 2) if hop["p99"] else None}


# -- end to end ------------------------------------------------------------------------------------------------

def end_to_end(settings: Settings, executions: int, jobs: int = 10) -> dict[str, Any]:
    """Executions of ``jobs`` noop jobs (half chains, half fan-outs) with processor, workers and projector
    running; projector lag sampled while it runs."""
    shapes = [flow("chain", jobs), flow("fanout", jobs)]
    done: dict[str, float] = {}
    ids: set[str] = set()

    def seen(message: Any, at: float) -> None:
        value = message.value() or b""
        if value[:2] == b"\xc3\x01" and message.key() and message.key().decode() in ids:
            try:
                event = decode_event(value)
            except Exception:
                return
            if isinstance(event.payload, ev.ExecutionSucceeded | ev.ExecutionFailed):
                done[event.execution_id] = at

    watcher = Watcher(settings, [settings.executions_topic], seen)
    lags: list[int] = []
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=_sample_lag, args=(settings, lags, stop_sampling), daemon=True)
    records = [submission(shapes[i % 2]) for i in range(executions)]
    ids.update(key for key, _ in records)
    producer = Producer(producer_config(settings))
    sampler.start()
    started = time.perf_counter()
    for key, value in records:
        producer.produce(settings.executions_topic, key=key.encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    wait_until(lambda: len(done) >= executions, 900, f"{executions} executions")
    seconds = max(done.values()) - started
    stop_sampling.set()
    sampler.join()
    watcher.stop()
    return {"executions": executions, "jobs_per_execution": jobs, "seconds": round(seconds, 3),
            "executions_per_s": round(executions / seconds, 1), "jobs_per_s": round(executions * jobs / seconds),
            "projector_lag_records": percentiles([float(x) for x in lags])}


def _sample_lag(settings: Settings, lags: list[int], stop: threading.Event) -> None:
    consumer = Consumer(consumer_config(settings, f"bench-lag-{uuid.uuid4()}"))
    topic = settings.executions_topic
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    with connect(settings.require_database(), settings.database_schema, autocommit=True) as conn:
        while not stop.wait(0.2):
            stored = dict(conn.execute("SELECT partition, next_offset FROM projector_offsets WHERE topic = %s",
                                       (topic,)).fetchall())
            lag = 0
            for p in partitions:
                high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                lag += max(high - stored.get(p, 0), 0)
            lags.append(lag)
    consumer.close()


# -- projection, rebuild, verify -------------------------------------------------------------------------------

def projection_and_replay(settings: Settings) -> dict[str, Any]:
    """Projector ingest (a replay through the projector's own write path into a fresh schema) against a raw
    COPY of the same events' rows; then `projections rebuild` and `replay verify` rates."""
    url = settings.require_database()
    replay = replay_into(settings, "bench_ingest")
    with connect(url, "bench_ingest") as conn:
        rows = conn.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM executions) + "
                            "(SELECT count(*) FROM jobs) + (SELECT count(*) FROM job_runs)").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    copy_rows = _executions_rows(settings)
    copy_s = _raw_copy(url, copy_rows)
    copy_rate = len(copy_rows) / copy_s
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP SCHEMA IF EXISTS bench_ingest CASCADE")
    rebuilt = rebuild(settings)
    verified = verify(settings)
    projector_rate = events / replay.seconds
    return {
        "records_replayed": replay.events, "events": events, "rows_written": rows,
        "projector_s": round(replay.seconds, 3), "projector_events_per_s": round(projector_rate),
        "projector_rows_per_s": round(rows / replay.seconds),
        "raw_copy_rows": len(copy_rows), "raw_copy_s": round(copy_s, 3), "raw_copy_rows_per_s": round(copy_rate),
        "ratio_events_vs_copy": round(projector_rate / copy_rate, 3),
        "rebuild_events_per_s": round(rebuilt.rate), "verify_events_per_s": round(verified.events / verified.seconds),
        "verify_ok": verified.ok,
    }


def _executions_rows(settings: Settings) -> list[tuple[Any, ...]]:
    from engine.log_reader import partitions_of, read_partition

    rows = []
    topic = settings.executions_topic
    for partition in partitions_of(settings, topic):
        for offset, _, value in read_partition(settings, topic, partition):
            try:
                event = decode_event(value or b"")
            except Exception:
                continue
            data = event_to_json(event)
            rows.append((event.event_id, event.execution_id, topic, partition, offset, event.type, event.producer,
                         event.occurred_at, event.causation_id, event.correlation_id, data["payload"]))
    return rows


def _raw_copy(url: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY the events' rows into a table shaped like the projection's events table."""
    import json

    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_events")
        conn.execute("CREATE TABLE bench_raw_events (event_id text PRIMARY KEY, execution_id text, topic text, "
                     "partition int, \"offset\" bigint, type text, producer text, occurred_at timestamptz, "
                     "causation_id text, correlation_id text, payload jsonb)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_raw_events FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row[:7], _ts(row[7]), row[8], row[9], json.dumps(row[10])))
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_events")
        conn.commit()
    return seconds


def _ts(ms: int) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


