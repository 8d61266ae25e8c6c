"""A burst produced by another service with its client's default partitioner, beside the same burst produced with
murmur2: how long until every execution has ended in the views, and how many records the engine forwarded.

    python -m bench.misplaced                  # 20,000 executions each way
    python -m bench.misplaced --burst 2000

One stack (engine, projector, one worker) on Apache Kafka with 6 partitions. Each burst is 3-job noop chains
encoded with the project's codec and produced as fast as the client goes: first with the engine's own producer
settings (murmur2, the baseline), then with confluent-kafka's defaults (only `bootstrap.servers`: librdkafka's
consistent_random partitioner puts ~5 in 6 of them on another partition than their key's). The figure is produce
start to the last execution ended in PostgreSQL. Writes bench/results/misplaced-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.common import footer, services, stamp, step, versions, write_results
from bench.kafka_benches import flow, submission
from engine.codec.admission import home_partition
from engine.domain.state import EXECUTION_TERMINAL
from engine.kafka import producer_config
from projections.db import connect, migrate
from tests.integration.stack import Stack

PARTITIONS = 6


def produce(stack: Stack, config: dict[str, Any], count: int) -> tuple[list[str], int]:
    """Produce ``count`` submissions; returns their ids and how many landed on another partition than their key's."""
    spec = flow("chain", 3)
    producer = Producer(config)
    ids: list[str] = []
    misplaced = [0]

    def delivered(err: Any, message: Any) -> None:
        if err is None and message.partition() != home_partition(message.key().decode(), PARTITIONS):
            misplaced[0] += 1

    for _ in range(count):
        key, value = submission(spec)
        ids.append(key)
        while True:
            try:
                producer.produce(stack.settings.executions_topic, key=key.encode(), value=value,
                                 on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the burst was not delivered within 120 s")
    return ids, misplaced[0]


def ended_in_views(stack: Stack, ids: list[str]) -> int:
    with connect(stack.settings.require_database(), stack.settings.database_schema) as conn:
        row = conn.execute("SELECT count(*) FROM executions WHERE execution_id = ANY(%s) AND status = ANY(%s)",
                           (ids, sorted(str(s) for s in EXECUTION_TERMINAL))).fetchone()
    return int(row[0]) if row else 0


def forwarded(stack: Stack) -> int:
    with connect(stack.settings.require_database(), stack.settings.database_schema) as conn:
        row = conn.execute("SELECT coalesce(sum(records), 0) FROM misplaced_records WHERE topic = %s",
                           (stack.settings.executions_topic,)).fetchone()
    return int(row[0]) if row else 0


def burst(stack: Stack, label: str, config: dict[str, Any], count: int, cap_s: float) -> dict[str, Any]:
    step(f"{label}: {count:,} executions")
    before = forwarded(stack)
    started = time.perf_counter()
    ids, misplaced = produce(stack, config, count)
    produced_s = time.perf_counter() - started
    ended = 0
    while time.perf_counter() - started < cap_s:
        ended = ended_in_views(stack, ids)
        if ended == count:
            break
        time.sleep(1.0)
    seconds = time.perf_counter() - started
    counted = forwarded(stack) - before
    while counted < misplaced and time.perf_counter() - started < cap_s:  # the projector counts as it goes
        time.sleep(0.5)
        counted = forwarded(stack) - before
    return {"partitioner": label, "executions": count, "ended_in_views": ended, "seconds": round(seconds, 1),
            "produce_s": round(produced_s, 1), "misplaced_produced": misplaced, "misplaced_counted": counted,
            "executions_per_s": round(ended / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--cap", type=float, default=1800, help="seconds a burst may take")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    results: dict[str, Any] = {"started": stamp(), "versions": versions(),
                               "settings": {"partitions": PARTITIONS, "parts": "engine + projector + 1 worker",
                                            "flow": "3-job noop chain", "burst": args.burst}}
    with services() as running:
        logs = Path(tempfile.mkdtemp(prefix="kafkaban-bench-misplaced-"))
        stack = Stack(running.bootstrap, running.database_url, logs, PARTITIONS)
        migrate(stack.settings.require_database(), stack.settings.database_schema)  # before the projector does
        stack.start(parts=("engine", "projector", "worker"))
        try:
            results["broker"] = running.describe_broker()
            burst(stack, "warm-up", producer_config(stack.settings), 200, args.cap)  # first assignment, caches
            baseline = burst(stack, "murmur2 (the engine's producer settings)", producer_config(stack.settings),
                             args.burst, args.cap)
            defaults = burst(stack, "client defaults (consistent_random)",
                             {"bootstrap.servers": stack.settings.require_bootstrap()}, args.burst, args.cap)
        finally:
            stack.stop()
    results["bursts"] = [baseline, defaults]
    results["defaults_vs_murmur2_seconds"] = round(defaults["seconds"] / baseline["seconds"], 2)
    write_results(args.out, f"misplaced-{results['started']}", results, markdown)


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Misplaced records: a burst with the client's default partitioner ({results['started']})", "",
             "| partitioner | ended in views / produced | seconds | produce s | misplaced produced | counted on "
             "/metrics | executions/s |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for b in results["bursts"]:
        lines.append(f"| {b['partitioner']} | {b['ended_in_views']} / {b['executions']} | {b['seconds']} | "
                     f"{b['produce_s']} | {b['misplaced_produced']} | {b['misplaced_counted']} | "
                     f"{b['executions_per_s']} |")
    lines += ["", f"client defaults / murmur2, seconds: {results['defaults_vs_murmur2_seconds']}", "",
              *footer(results)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
