"""Fetch cost against the number of record batches in a partition, on each broker.

    python -m bench.tail_fetch                         # Apache Kafka, then tansu: 2,000 / 10,000 / 30,000 batches

A partition is written one record per batch (one produce, one flush: how Kafkaban's parts write), and after
each size is reached a fresh consumer reads its last 200 records; the figure is the time from assign to the
200th record (or 'nothing' when none came within 5 s). The raw baseline is the same read after 200 batches.
Writes bench/results/tail-fetch-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.common import footer, services, stamp, step, versions, write_results
from engine.config import Settings
from engine.kafka import consumer_config, ensure_topics, producer_config

TAIL = 200
WAIT_S = 5.0


def read_tail(settings: Settings, topic: str, end: int) -> float | None:
    consumer = Consumer(consumer_config(settings, f"bench-tail-{uuid.uuid4()}", **{"enable.auto.commit": False}))
    try:
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, 0, end - TAIL)])
        got = 0
        while got < TAIL and time.perf_counter() - started < WAIT_S:
            got += sum(1 for m in consumer.consume(TAIL, timeout=0.1) if m.error() is None)
        return round((time.perf_counter() - started) * 1000, 1) if got >= TAIL else None
    finally:
        consumer.close()


def measure(settings: Settings, sizes: list[int]) -> list[dict[str, Any]]:
    topic = settings.topic(f"tail-{uuid.uuid4().hex[:8]}")
    ensure_topics(settings.with_(partitions=1), [topic])
    producer = Producer(producer_config(settings, **{"linger.ms": 0}))
    written = 0
    out = []
    for size in [TAIL, *sizes]:
        while written < size:
            producer.produce(topic, key=b"k", value=b"x" * 200, partition=0)
            producer.flush(10)  # one record per batch
            written += 1
        out.append({"batches": size, "last_200_ms": read_tail(settings, topic, written)})
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Reading the last {TAIL} records of a partition written one record per batch ({r['started_at']})",
             "", "| broker | " + " | ".join(f"{x['batches']:,} batches" for x in next(iter(r['brokers'].values())))
             + " |", "| --- |" + " --- |" * len(next(iter(r["brokers"].values())))]
    for name, rows in r["brokers"].items():
        cells = [f"{x['last_200_ms']} ms" if x["last_200_ms"] is not None else f"nothing in {WAIT_S:g} s"
                 for x in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += footer(r)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tail_fetch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="kafka,tansu")
    parser.add_argument("--sizes", default="2000,10000,30000")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    results: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(),
                               "brokers": {}}
    env_before = dict(os.environ)
    for kind in args.brokers.split(","):
        os.environ["KAFKABAN_EMBEDDED_BROKER"] = kind
        step(f"{kind}: tail fetch at {sizes}")
        with services() as running:
            settings = Settings.from_env().with_(bootstrap=running.bootstrap)
            results["brokers"][running.describe_broker()] = measure(settings, sizes)
        os.environ.clear()
        os.environ.update(env_before)
    write_results(args.out, f"tail-fetch-{stamp()}", results, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
