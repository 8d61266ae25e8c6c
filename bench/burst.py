"""Growth on each broker: a burst of executions produced straight to the log, and engine restart time by history.

    python -m bench.burst                              # Apache Kafka, then tansu, full sizes (about half an hour)
    python -m bench.burst --brokers kafka --burst 2000 --history 30000

For each broker, in one run on one machine, with an engine and one worker as processes:
- restart time with ~``history[0]`` events in the log: the engine is stopped and started again, then one new
  one-job execution is submitted; the figure is start-to-SUCCEEDED (it refolds each partition from offset 0);
- the burst: ``burst`` executions of a 3-job noop chain produced as fast as possible, then the time until all
  of them ended (or ``--cap`` ran out), and the events appended to the executions topic per second in each
  quarter of that time, with the last quarter's rate against the first's;
- restart time again after the log is topped up to each further size in ``history``;
- `kafkaban dev` time to ready: on a fresh data directory, and restarted on it.
Writes bench/results/burst-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.common import footer, services, stamp, step, versions, write_results
from bench.kafka_benches import Watcher, flow, submission
from engine.broker.embedded import free_port
from engine.codec import decode_event
from engine.domain import events as ev
from engine.domain.spec import FlowSpec
from engine.kafka import producer_config
from tests.integration.stack import Stack

PARTITIONS = 6
EVENTS_PER_CHAIN3 = 14  # submitted + 3 x (queued, dispatched, started, succeeded) + execution succeeded


class LogCounter:
    """Counts what is appended to the executions topic: every record with its arrival time, and ended runs."""

    def __init__(self, stack: Stack) -> None:
        self.arrivals: list[float] = []
        self.ended: set[str] = set()
        self.lock = threading.Lock()
        self.watcher = Watcher(stack.settings, [stack.settings.executions_topic], self._seen)

    def _seen(self, message: Any, at: float) -> None:
        self.arrivals.append(at)
        value = message.value()
        if value and len(value) < 400:  # submissions carry the whole DAG; terminal events are small
            try:
                event = decode_event(value)
            except Exception:
                return
            if isinstance(event.payload, ev.ENDING_EVENTS):
                with self.lock:
                    self.ended.add(event.execution_id)

    def ended_count(self) -> int:
        with self.lock:
            return len(self.ended)

    def stop(self) -> None:
        self.watcher.stop()


def produce_burst(stack: Stack, count: int, jobs: int = 3, spec: FlowSpec | None = None) -> list[str]:
    """``count`` submissions of ``spec`` (default a ``jobs``-job noop chain), produced straight to the log."""
    spec = spec or flow("chain", jobs)
    producer = Producer(producer_config(stack.settings))
    ids = []
    for _ in range(count):
        key, value = submission(spec)
        ids.append(key)
        while True:
            try:
                producer.produce(stack.settings.executions_topic, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    return ids


def wait_ended(counter: LogCounter, ids: list[str], cap_s: float) -> tuple[int, float]:
    wanted = set(ids)
    started = time.perf_counter()
    while time.perf_counter() - started < cap_s:
        with counter.lock:
            if wanted <= counter.ended:
                return len(wanted), time.perf_counter()
        time.sleep(0.2)
    with counter.lock:
        return len(wanted & counter.ended), time.perf_counter()


def quarters(arrivals: list[float], start: float, end: float) -> list[float]:
    span = (end - start) / 4
    counts = [0, 0, 0, 0]
    for at in arrivals:
        if start <= at <= end:
            counts[min(int((at - start) / span), 3)] += 1
    return [round(c / span) for c in counts]


def burst(stack: Stack, counter: LogCounter, count: int, cap_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    ids = produce_burst(stack, count)
    produced_s = time.perf_counter() - started
    ended, finished = wait_ended(counter, ids, cap_s)
    rates = quarters(counter.arrivals, started, finished)
    return {"executions": count, "ended": ended, "all_ended": ended == count,
            "seconds": round(finished - started, 1), "produce_s": round(produced_s, 1),
            "events_per_s_by_quarter": rates,
            "last_vs_first_quarter": round(rates[3] / rates[0], 2) if rates[0] else None,
            "executions_per_s": round(ended / (finished - started), 1)}


def restart_time(stack: Stack, counter: LogCounter) -> dict[str, Any]:
    events = len(counter.arrivals)
    stack.processes["engine"].terminate()
    stack.processes["engine"].wait(60)
    started = time.perf_counter()
    stack.spawn("engine", "engine")
    (execution_id,) = produce_burst(stack, 1, jobs=1)
    ended, finished = wait_ended(counter, [execution_id], 900)
    return {"events_in_log": events, "seconds_to_run_one_execution": round(finished - started, 1) if ended else None}


def top_up(stack: Stack, counter: LogCounter, events: int, cap_s: float) -> None:
    """Add executions until the log holds about ``events`` records."""
    while len(counter.arrivals) < events:
        missing = (events - len(counter.arrivals)) // EVENTS_PER_CHAIN3 + 1
        ids = produce_burst(stack, min(missing, 20_000))
        ended, _ = wait_ended(counter, ids, cap_s)
        if ended < len(ids):
            raise TimeoutError(f"topping up the log: {ended} of {len(ids)} executions ended within {cap_s} s")


def dev_startup(kind: str) -> dict[str, Any]:
    """Seconds until `kafkaban dev` says it is ready: on an empty data directory, then restarted on it."""
    data = Path(tempfile.mkdtemp(prefix="kafkaban-bench-dev-"))
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKABAN_BOOTSTRAP", "KAFKABAN_DATABASE_URL")}
    env["KAFKABAN_EMBEDDED_BROKER"] = kind
    env.setdefault("KAFKABAN_ALLOW_ROOT_JOBS", "1")  # the dev stack's worker refuses root jobs otherwise (CI is root)
    out: dict[str, Any] = {}
    try:
        for label in ("fresh", "restart"):
            process = subprocess.Popen([sys.executable, "-m", "engine.cli", "dev", "--port", str(free_port()),
                                        "--data-dir", str(data)], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            assert process.stdout is not None
            seen: list[str] = []
            try:
                for line in process.stdout:
                    seen = [*seen[-5:], line.rstrip()]
                    if match := re.search(r"ready in ([\d.]+) s", line):
                        out[f"{label}_s"] = float(match[1])
                        break
                else:  # it ended without saying it was ready: keep why
                    out[f"{label}_error"] = "\n".join(seen)
                process.terminate()
                process.communicate(timeout=60)  # drains what it prints while stopping
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return out


def run_on(kind: str, sizes: dict[str, Any], logs: Path) -> dict[str, Any]:
    env_before = dict(os.environ)
    try:
        with services() as running:
            result: dict[str, Any] = {"broker": running.describe_broker()}
            (logs / kind).mkdir(parents=True)
            stack = Stack(running.bootstrap, running.database_url, logs / kind, PARTITIONS)
            stack.start(parts=("engine", "worker"))
            counter = LogCounter(stack)
            try:
                step(f"{kind}: restart time at {sizes['history'][0]:,} events")
                top_up(stack, counter, sizes["history"][0], sizes["cap"])
                result["restart"] = [restart_time(stack, counter)]
                step(f"{kind}: burst of {sizes['burst']:,} executions")
                result["burst"] = burst(stack, counter, sizes["burst"], sizes["cap"])
                for events in sizes["history"][1:]:
                    if not result["burst"]["all_ended"]:
                        result["restart"].append({"events_in_log": events, "skipped": "the burst did not end"})
                        continue
                    step(f"{kind}: restart time at {events:,} events")
                    top_up(stack, counter, events, sizes["cap"])
                    result["restart"].append(restart_time(stack, counter))
            except TimeoutError as exc:
                result["error"] = str(exc)
            finally:
                counter.stop()
                stack.stop()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    step(f"{kind}: dev startup")
    result["dev_startup"] = dev_startup(kind)
    return result


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Kafkaban growth by broker ({r['started_at']})", "",
             "| broker | burst: ended / submitted | burst seconds | events/s by quarter | last / first quarter "
             "| restart: events in log -> seconds to run one execution | dev ready: fresh / restart s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for res in r["brokers"].values():
        b = res.get("burst", {})
        restarts = ", ".join(f"{x['events_in_log']:,} -> {x.get('seconds_to_run_one_execution', x.get('skipped'))}"
                             for x in res.get("restart", []))
        dev = res.get("dev_startup", {})
        lines.append(f"| {res['broker']} | {b.get('ended', '-')} / {b.get('executions', '-')} | {b.get('seconds')} "
                     f"| {b.get('events_per_s_by_quarter')} | {b.get('last_vs_first_quarter')} | {restarts} "
                     f"| {dev.get('fresh_s')} / {dev.get('restart_s')} |")
        if res.get("error"):
            lines.append(f"|  | stopped: {res['error']} | | | | | |")
    lines += footer(r)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", default="kafka,tansu")
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--history", default="100000,1000000", help="log sizes (events) to time a restart at")
    parser.add_argument("--cap", type=float, default=1200, help="seconds a burst or top-up may take on Kafka")
    parser.add_argument("--tansu-cap", type=float, default=300,
                        help="the same on tansu, where the burst is known not to end (the note says how it fared)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    sizes = {"burst": args.burst, "history": [int(x) for x in args.history.split(",")], "cap": args.cap,
             "tansu_cap": args.tansu_cap}
    results: dict[str, Any] = {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "versions": versions(),
                               "settings": {"partitions": PARTITIONS, "parts": "engine + 1 worker (4 slots)",
                                            "flow": "3-job noop chain", **sizes}, "brokers": {}}
    logs = Path(tempfile.mkdtemp(prefix="kafkaban-burst-"))
    for kind in args.brokers.split(","):
        os.environ["KAFKABAN_EMBEDDED_BROKER"] = kind
        cap = sizes["tansu_cap"] if kind == "tansu" else sizes["cap"]
        results["brokers"][kind] = run_on(kind, {**sizes, "cap": cap}, logs)
    write_results(args.out, f"burst-{stamp()}", results, markdown)
    return 0

if __name__ == "__main__":
    sys.exit(main())
