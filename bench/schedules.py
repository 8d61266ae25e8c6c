"""Many schedules firing at once: fire lag and the processor's cost per fire, next to the fold throughput.

    python -m bench.schedules                           # 10,000 schedules every minute, 3 minutes measured
    python -m bench.schedules --schedules 1000 --minutes 2
    python -m bench.schedules --jitter 50              # the same ticks spread over 50 s of each minute

One run on one machine: Apache Kafka (one node), an engine and one worker as processes, PARTITIONS partitions.
A one-job noop flow is registered and ``schedules`` schedules of it are created, each firing every minute
(``* * * * *``, overlap allow_all), by records produced straight to the schedules topic. Measured over the
minute boundaries after the first:
- fire lag: when each tick's execution was appended to the executions topic (the broker's timestamp) minus the
  time the tick was due (its logical time, plus its share of the jitter when there is one), p50/p95/p99 and max,
  and how many ticks fired (every tick of every schedule should);
- the engine's CPU seconds per fire over the measured minutes (it also runs the executions the ticks start);
- a minute's burst: from each measured minute boundary until the last execution of that minute was appended,
  against a raw baseline in the same run: the same number of submission-sized records produced with
  confluent-kafka and read back by a consumer (how fast Kafka alone moves that burst here);
- the fold throughput of the same engine in the same run (bench.kafka_benches.fold_throughput), for scale.
Writes bench/results/schedules-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Producer

from bench.common import footer, services, stamp, step, versions, write_results
from bench.kafka_benches import Watcher, fold_throughput, percentiles
from engine.codec import codec, decode_event
from engine.codec.records import flow_registered
from engine.codec.schedule_records import encode_schedule_event
from engine.domain import events as ev
from engine.domain.ids import unit_interval
from engine.domain.loader import load_flow
from engine.domain.schedule import events as se
from engine.domain.schedule.spec import ScheduleSpec
from engine.kafka import ensure_topics, producer_config
from tests.integration.stack import Stack

PARTITIONS = 6
FLOW = "name: minutely\nnodes:\n  - {name: a, type: noop}\n"


class FireWatch:
    """Every scheduled submission appended to the executions topic: its logical time and append time."""

    def __init__(self, stack: Stack) -> None:
        self.fires: dict[str, tuple[int, int, str]] = {}  # execution id -> (logical time, appended at, schedule)
        self.sample = b""  # one submission, for the raw baseline's record size
        self.lock = threading.Lock()
        self.watcher = Watcher(stack.settings, [stack.settings.executions_topic], self._seen)

    def _seen(self, message: Any, at: float) -> None:
        value = message.value()
        if not value:
            return
        try:
            event = decode_event(value)
        except Exception:
            return
        p = event.payload
        if isinstance(p, ev.ExecutionSubmitted) and p.logical_time is not None:
            self.sample = value
            with self.lock:
                self.fires.setdefault(event.execution_id, (p.logical_time, message.timestamp()[1],
                                                           p.schedule_id or ""))

    def between(self, first: int, last: int) -> list[tuple[int, int, str]]:
        with self.lock:
            return [f for f in self.fires.values() if first <= f[0] <= last]

    def stop(self) -> None:
        self.watcher.stop()


def create(stack: Stack, count: int, jitter_ms: int) -> None:
    producer = Producer(producer_config(stack.settings))
    registered = flow_registered("minutely", load_flow(FLOW).version_hash(), FLOW, "bench", int(time.time() * 1000))
    producer.produce(stack.settings.definitions_topic, key=b"minutely",
                     value=codec("definitions").encode(registered))
    spec = ScheduleSpec(flow="minutely", cadence="* * * * *", overlap="allow_all", jitter_ms=jitter_ms)
    now = int(time.time() * 1000)
    for n in range(count):
        schedule_id = f"bench-{n:05d}"
        event = se.ScheduleEvent(str(uuid.uuid4()), schedule_id, now, "api", se.ScheduleCreated(spec, "bench"))
        producer.produce(stack.settings.schedules_topic, key=schedule_id.encode(),
                         value=encode_schedule_event(event))
        producer.poll(0)
    producer.flush(60)


def raw_burst(stack: Stack, count: int, size: int) -> float:
    """Seconds from the first produce until a consumer has read ``count`` records of ``size`` bytes."""
    topic = stack.settings.topic("raw-burst")
    ensure_topics(stack.settings, [topic])
    seen: list[float] = []
    watcher = Watcher(stack.settings, [topic], lambda message, at: seen.append(at))
    producer = Producer(producer_config(stack.settings))
    value = b"x" * size
    started = time.perf_counter()
    for n in range(count):
        producer.produce(topic, key=str(n).encode(), value=value)
        producer.poll(0)
    producer.flush(60)
    while len(seen) < count:
        time.sleep(0.01)
    watcher.stop()
    return seen[-1] - started


def engine_cpu(stack: Stack) -> float:
    """CPU seconds of every engine process so far."""
    total = 0.0
    for name, process in stack.processes.items():
        if name.startswith("engine"):
            times = psutil.Process(process.pid).cpu_times()
            total += times.user + times.system
    return total


def minute_of(ms: int) -> int:
    return ms // 60_000 * 60_000


def due_at(schedule_id: str, logical: int, jitter_ms: int) -> int:
    """When the engine was meant to fire the tick: the schedule core's own rule."""
    return logical + (int(unit_interval(f"jitter/{schedule_id}/{logical}") * jitter_ms) if jitter_ms else 0)


def run(schedules: int, minutes: int, fold_inputs: int, jitter_ms: int = 0, engines: int = 1) -> dict[str, Any]:
    with services() as running, tempfile.TemporaryDirectory(prefix="bench-schedules-") as logs:
        stack = Stack(running.bootstrap, running.database_url, Path(logs), PARTITIONS)
        ensure_topics(stack.settings, stack.settings.base_topics())
        stack.start(parts=("engine", "worker"))
        for n in range(2, engines + 1):  # the group shares the partitions out between them
            stack.spawn(f"engine-{n}", "engine")
        try:
            step("fold throughput of this engine")
            fold = fold_throughput(stack.settings, fold_inputs)
            watch = FireWatch(stack)
            step(f"creating {schedules:,} schedules")
            create(stack, schedules, jitter_ms)
            # the first minute boundary warms up (the engine reads the creations); the next ones are measured
            first = minute_of(int(time.time() * 1000)) + 120_000
            last = first + (minutes - 1) * 60_000
            cpu_before: float | None = None
            # the last minute's ticks are due up to a jitter after it, and may fire some seconds after that
            while time.time() * 1000 < last + 50_000 + jitter_ms:
                if cpu_before is None and time.time() * 1000 >= first - 5_000:
                    cpu_before, cpu_started = engine_cpu(stack), time.time()
                step(f"{dt.datetime.now(dt.UTC):%H:%M:%S} fires seen: {len(watch.fires):,}")
                time.sleep(10)
            cpu_used = engine_cpu(stack) - (cpu_before or 0.0)
            wall = time.time() - cpu_started
            fires = watch.between(first, last)
            watch.stop()
            step("raw baseline: the same burst through Kafka alone")
            size = len(watch.sample) if watch.sample else 1000
            raw_s = raw_burst(stack, schedules, size)
        finally:
            stack.stop()
    lags = [(appended - due_at(schedule_id, logical, jitter_ms)) / 1000 for logical, appended, schedule_id in fires]
    bursts: dict[int, int] = {}
    for logical, appended, _ in fires:
        bursts[logical] = max(bursts.get(logical, appended), appended)
    burst_s = sorted((appended - logical) / 1000 for logical, appended in bursts.items())
    minute_s = burst_s[len(burst_s) // 2] if burst_s else None
    expected = schedules * minutes
    return {"schedules": schedules, "minutes_measured": minutes, "jitter_s": jitter_ms / 1000, "engines": engines,
            "fires_expected": expected, "fires": len(fires),
            "fire_lag_s": {**percentiles(lags), "max": round(max(lags), 3) if lags else None},
            "engine_cpu_s": round(cpu_used, 1), "engine_cpu_share": round(cpu_used / wall, 3),
            "engine_cpu_ms_per_fire": round(1000 * cpu_used / max(len(fires), 1), 3),
            "minute_burst_s": minute_s, "raw_burst_s": round(raw_s, 3),
            "burst_ratio": round(raw_s / minute_s, 3) if minute_s else None,
            "fold": fold, "versions": versions(),
            "settings": {"partitions": PARTITIONS, "broker": "Apache Kafka, 1 node"}}


def markdown(r: dict[str, Any]) -> str:
    lag = r["fire_lag_s"]
    fold = r["fold"]
    spread = f", spread by a jitter of {r['jitter_s']:g} s" if r.get("jitter_s") else ", all at the minute"
    spread += f", {r.get('engines', 1)} engine(s)"
    lines = [f"# {r['schedules']:,} schedules, each every minute{spread} ({r['minutes_measured']} minutes measured)",
             "",
             "| | value |", "| --- | --- |",
             f"| ticks fired / expected | {r['fires']:,} / {r['fires_expected']:,} |",
             f"| fire lag p50 / p95 / p99 / max (s) | {lag['p50']} / {lag['p95']} / {lag['p99']} / {lag['max']} |",
             f"| a minute's ticks all started after (median over the minutes) / raw baseline: the same records "
             f"through Kafka alone | {r['minute_burst_s']} s / {r['raw_burst_s']} s (ratio {r['burst_ratio']}) |",
             f"| engine CPU per fire (ms; it also runs the executions) | {r['engine_cpu_ms_per_fire']} |",
             f"| engines' CPU share over the measured minutes (1.0 = one core) | {r['engine_cpu_share']} |",
             f"| fold throughput, same engine (inputs/s; raw loop {fold['raw_events_per_s']}/s) | "
             f"{fold['engine_inputs_per_s']} ({fold['ratio']} of raw) |", ""]
    return "\n".join(lines + footer(r))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.schedules")
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--fold-inputs", type=int, default=2000)
    parser.add_argument("--jitter", type=float, default=0.0, help="seconds each tick may fire after its time")
    parser.add_argument("--engines", type=int, default=1, help="engine processes sharing the partitions")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    results = run(args.schedules, args.minutes, args.fold_inputs, round(args.jitter * 1000), args.engines)
    write_results(args.out, f"schedules-{stamp()}", results, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
