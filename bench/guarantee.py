"""at_least_once (with the idempotent fold) against exactly_once (Kafka transactions), on Apache Kafka.

    python -m bench.guarantee                    # 2,000 executions per trial, 3 trials per guarantee
    python -m bench.guarantee --executions 300 --trials 1

For each guarantee, in one run: fold throughput (bench.kafka_benches.fold_throughput, the engine alone, next to
the raw consume->produce loop), then trials in which a burst of 3-job noop chains runs with an engine and a
worker, the engine is SIGKILLed part-way (once the log holds about a third of the burst's events) and started
again. Counted afterwards from the logs as a read_committed consumer (every Kafkaban reader) sees them:
executions ended, executions with more than one terminal event, derived events appended more than once (same
event id), dispatches sent more than once for one attempt, attempts started more than once.
Writes bench/results/guarantee-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.burst import EVENTS_PER_CHAIN3, LogCounter, produce_burst, wait_ended
from bench.common import Services, footer, services, stamp, step, versions, write_results
from bench.kafka_benches import fold_throughput
from engine.codec import codec, decode_event
from engine.domain import events as ev
from engine.log_reader import partitions_of, read_partition
from tests.integration.stack import Stack

PARTITIONS = 6


def audit(stack: Stack, ids: list[str]) -> dict[str, Any]:
    settings = stack.settings
    event_ids: Counter[str] = Counter()
    types: dict[str, str] = {}
    terminal: Counter[str] = Counter()
    started: Counter[tuple[str, str, int]] = Counter()
    topic = settings.executions_topic
    for partition in partitions_of(settings, topic):
        for _offset, _key, value in read_partition(settings, topic, partition):
            event = decode_event(value)
            event_ids[event.event_id] += 1
            types[event.event_id] = event.type
            if isinstance(event.payload, ev.ENDING_EVENTS):
                terminal[event.execution_id] += 1
            elif isinstance(event.payload, ev.JobStarted):
                started[(event.execution_id, event.payload.job, event.payload.attempt)] += 1
    dispatches: Counter[tuple[str, str, int]] = Counter()
    dispatch_topic = settings.dispatch_topic("default")
    for partition in partitions_of(settings, dispatch_topic):
        for _offset, _key, value in read_partition(settings, dispatch_topic, partition):
            record = codec("dispatch").decode(value)
            _, body = record["payload"]
            dispatches[(record["execution_id"], body["job"], body["attempt"])] += 1
    wanted = set(ids)
    return {"executions": len(ids), "ended": len(wanted & set(terminal)),
            "executions_with_duplicate_terminal": sum(1 for e in wanted if terminal[e] > 1),
            "events_appended_twice": sum(1 for n in event_ids.values() if n > 1),
            "appended_twice_by_type": dict(Counter(types[i] for i, n in event_ids.items() if n > 1)),
            "dispatches_sent_twice": sum(1 for n in dispatches.values() if n > 1),
            "attempts_started_twice": sum(1 for n in started.values() if n > 1)}


def trial(bootstrap: str, database_url: str, logs: Path, guarantee: str, executions: int) -> dict[str, Any]:
    logs.mkdir(parents=True)
    stack = Stack(bootstrap, database_url, logs, PARTITIONS, extra_env={"KAFKABAN_PROCESSING_GUARANTEE": guarantee})
    stack.start(parts=("engine", "worker"))
    counter = LogCounter(stack)
    try:
        (warm,) = produce_burst(stack, 1)  # the engine has joined its group before the clock starts
        wait_ended(counter, [warm], 120)
        started = time.perf_counter()
        ids = produce_burst(stack, executions)
        kill_at = len(counter.arrivals) + executions * EVENTS_PER_CHAIN3 // 3
        while len(counter.arrivals) < kill_at and time.perf_counter() - started < 300:
            time.sleep(0.01)
        stack.processes["engine"].send_signal(signal.SIGKILL)
        stack.processes["engine"].wait()
        killed_after = time.perf_counter() - started
        stack.spawn("engine", "engine")
        ended, finished = wait_ended(counter, ids, 900)
        result = {"killed_after_s": round(killed_after, 2), "seconds": round(finished - started, 1),
                  **audit(stack, ids)}
        result["executions_per_s"] = round(ended / (finished - started), 1)
        return result
    finally:
        counter.stop()
        stack.stop()


def throughput(bootstrap: str, database_url: str, logs: Path, guarantee: str, count: int) -> dict[str, Any]:
    logs.mkdir(parents=True)
    stack = Stack(bootstrap, database_url, logs, PARTITIONS, extra_env={"KAFKABAN_PROCESSING_GUARANTEE": guarantee})
    stack.start(parts=("engine",))
    try:
        return fold_throughput(stack.settings, count)
    finally:
        stack.stop()


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# at_least_once vs exactly_once on Apache Kafka ({r['started_at']})", "",
             "| guarantee | fold inputs/s (raw loop, ratio) | trial | ended | duplicate terminal | events appended "
             "twice | dispatches sent twice | attempts started twice | burst s (engine killed at s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for guarantee, res in r["guarantees"].items():
        fold = res["fold"]
        for index, t in enumerate(res["trials"], 1):
            lines.append(f"| {guarantee} | {fold['engine_inputs_per_s']} ({fold['raw_events_per_s']}, "
                         f"{fold['ratio']}) | {index} | {t['ended']}/{t['executions']} | "
                         f"{t['executions_with_duplicate_terminal']} | {t['events_appended_twice']} | "
                         f"{t['dispatches_sent_twice']} | {t['attempts_started_twice']} | "
                         f"{t['seconds']} ({t['killed_after_s']}) |")
    lines += footer(r)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guarantee", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=2_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--fold", type=int, default=10_000, help="inputs for the fold throughput figure")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    os.environ.setdefault("KAFKABAN_EMBEDDED_BROKER", "kafka")  # transactions: not on the tansu fallback
    with services() as running:
        if running.broker is not None and running.broker.kind != "kafka":
            print("bench.guarantee measures Kafka transactions: it needs Apache Kafka (Java 17+), not the tansu "
                  "fallback", file=sys.stderr)
            return 1
        results = measure(running, args)
    write_results(args.out, f"guarantee-{stamp()}", results, markdown)
    return 0


def measure(running: Services, args: argparse.Namespace) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="kafkaban-guarantee-"))
    results: dict[str, Any] = {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "versions": versions(),
                               "settings": {"broker": running.describe_broker(),
                                            "partitions": PARTITIONS, "executions": args.executions,
                                            "trials": args.trials, "fold_inputs": args.fold,
                                            "flow": "3-job noop chain", "parts": "engine + 1 worker"},
                               "guarantees": {}}
    for guarantee in ("at_least_once", "exactly_once"):
        step(f"{guarantee}: fold throughput")
        res: dict[str, Any] = {"fold": throughput(running.bootstrap, running.database_url, logs / f"{guarantee}-fold",
                                                  guarantee, args.fold), "trials": []}
        for index in range(args.trials):
            step(f"{guarantee}: engine SIGKILL trial {index + 1}")
            res["trials"].append(trial(running.bootstrap, running.database_url, logs / f"{guarantee}-{index}",
                                       guarantee, args.executions))
        results["guarantees"][guarantee] = res
    return results

if __name__ == "__main__":
    sys.exit(main())
