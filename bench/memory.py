"""Memory against history: the engine core folding many executions to their end with about ``live`` running.

    python -m bench.memory                         # 200,000 executions, 1,000 live
    python -m bench.memory --executions 20000      # smaller

In process (the core without Kafka, so only what the core keeps shows), twice in one run: with ended executions
let go after their grace (the engine's behaviour) and, as the baseline, with them all kept (the engine before).
RSS is sampled after every tenth of the executions; the figure is the last sample against the one after the
first tenth (flat is 1.0; the target is within 20%). Writes bench/results/memory-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import footer, stamp, step, versions, write_results
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.processor.core import EngineCore

FLOW = load_flow("name: pair\nnodes:\n  - {name: a, type: noop}\n  - {name: b, type: noop, dependsOn: [a]}\n")
T0 = 1_700_000_000_000
STEP_MS = 10  # simulated time between submissions
SNAPSHOT_EVERY = 30_000 // STEP_MS


def _feed(core: EngineCore, event: ev.Event, partition: int, now: int) -> None:
    for derived in core.handle(event, partition, now).events:  # read back, as the processor does
        core.handle(derived, partition, now)


def run_core(executions: int, live: int, grace_ms: int | None, kept: int) -> dict[str, Any]:
    gc.collect()
    process = psutil.Process()
    core = EngineCore(ended_grace_ms=grace_ms if grace_ms is not None else 10**15, ended_kept=kept)
    running: list[str] = []
    samples: list[int] = []
    tenth = max(executions // 10, 1)
    started = time.perf_counter()
    digest = FLOW.version_hash()
    for n in range(executions):
        now = T0 + n * STEP_MS
        execution_id = f"{n:08d}-0000-4000-8000-000000000000"
        partition = n % 6
        _feed(core, ev.Event(f"s-{n}", execution_id, now, "api",
                             ev.ExecutionSubmitted("pair", digest, FLOW, {}, "bench")), partition, now)
        running.append(execution_id)
        if len(running) > live:
            done = running.pop(0)
            for i, payload in enumerate((ev.JobStarted("a", 1, "w"), ev.JobSucceeded("a", 1),
                                         ev.JobStarted("b", 1, "w"), ev.JobSucceeded("b", 1))):
                _feed(core, ev.Event(f"{done}-{i}", done, now, "worker", payload), int(done[:8]) % 6, now)
        if n % 20 == 0:  # the engine's 0.2 s timer: deadlines due, dispatches to send again, states to let go
            core.due(now)
            core.resend_due(now)
            core.evict(now)
        if n % SNAPSHOT_EVERY == 0:  # what a snapshot takes (the engine's default interval, 30 s)
            for p in range(6):
                core.take_dirty(p)
        if (n + 1) % tenth == 0:
            gc.collect()
            samples.append(process.memory_info().rss)
    elapsed = time.perf_counter() - started
    return {"executions": executions, "live": live, "grace_ms": grace_ms, "kept": kept,
            "states_held": len(core.states), "ended_ids_held": len(core.ended),
            "rss_mib": [round(s / 2**20, 1) for s in samples],
            "last_over_first": round(samples[-1] / samples[0], 3) if samples else None,
            # once the bounded record of ended ids is full (it fills while the first ``kept`` executions end)
            "last_over_half": round(samples[-1] / samples[len(samples) // 2 - 1], 3) if len(samples) >= 2 else None,
            "seconds": round(elapsed, 1)}


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Memory against history ({r['executions']:,} executions, about {r['live']:,} live)", "",
             "| run | states held at the end | ended ids held | RSS after 1/10 (MiB) | RSS at the end (MiB) | "
             "end / first tenth | end / half | target | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in (("ended let go after the grace", r["evicting"]), ("baseline: every state kept", r["keeping"])):
        lines.append(f"| {name} | {row['states_held']:,} | {row['ended_ids_held']:,} | {row['rss_mib'][0]} | "
                     f"{row['rss_mib'][-1]} | {row['last_over_first']} | {row.get('last_over_half')} | <= 1.2 | "
                     f"{row['seconds']} |")
    lines += ["", f"Ended ids are kept up to {r['evicting']['kept']:,} (KAFKABAN_ENDED_KEPT): RSS grows while that "
              "record fills and is flat after; end / half is the figure once it is full."]
    lines += ["", "RSS after each tenth, evicting: " + ", ".join(map(str, r["evicting"]["rss_mib"])),
              "", "RSS after each tenth, keeping: " + ", ".join(map(str, r["keeping"]["rss_mib"])), ""]
    return "\n".join(lines + footer(r))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=1_000)
    parser.add_argument("--grace-ms", type=int, default=5_000, help="simulated ms an ended state stays")
    parser.add_argument("--kept", type=int, default=100_000, help="ended ids kept (the engine's default)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    step(f"evicting: {args.executions:,} executions, {args.live:,} live")
    evicting = run_core(args.executions, args.live, args.grace_ms, args.kept)
    step("baseline: every state kept")
    keeping = run_core(args.executions, args.live, None, args.kept)
    results = {"executions": args.executions, "live": args.live, "evicting": evicting, "keeping": keeping,
               "versions": versions()}
    write_results(args.out, f"memory-{stamp()}", results, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
