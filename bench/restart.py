"""Engine restart time by history, from a snapshot, against the same log refolded from its start.

    python -m bench.restart                                  # 100,000 and 1,000,000 events, 1,000 live
    python -m bench.restart --history 100000 300000 --live 1000

On Apache Kafka, with an engine and one worker as processes: ``live`` executions are left waiting (their one job
is in a pool no worker serves), then the log is topped up with ended 3-job executions to each size of
``history``. At each size the engine is restarted twice on the same log: with snapshots, once one has been
taken since the top-up, and with ``KAFKABAN_SNAPSHOT_INTERVAL=0``, which refolds every partition from offset 0:
the raw baseline. Each restart gives the rebuild's seconds (the engine's own log line) and start-to-SUCCEEDED of
one new one-job execution. Writes bench/results/restart-<time>.json and .md.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.burst import LogCounter, produce_burst, top_up, wait_ended
from bench.common import footer, services, stamp, step, versions, write_results
from engine.domain.loader import load_flow
from tests.integration.stack import Stack

PARTITIONS = 6
REBUILT = re.compile(r"rebuilt partitions .* of \S+\.executions from (\d+) events in ([\d.]+) s")
WAITING = load_flow("name: waiting\nnodes:\n  - {name: held, type: noop, pool: nobody}")


def rebuilds(stack: Stack) -> list[tuple[int, float]]:
    """Every executions rebuild the engine's log tells of (each start appends to it)."""
    text = (stack.log_dir / "engine.log").read_text(errors="replace")
    return [(int(m[1]), float(m[2])) for m in REBUILT.finditer(text)]


def restart(stack: Stack, counter: LogCounter, snapshots: bool, interval_s: float) -> dict[str, Any]:
    """Stop the engine, start it (with or without snapshots), and time its rebuild and one new execution."""
    engine = stack.processes.pop("engine")
    engine.terminate()
    engine.wait(60)
    stack.env["KAFKABAN_SNAPSHOT_INTERVAL"] = str(interval_s if snapshots else 0)
    before = len(rebuilds(stack))
    started = time.perf_counter()
    stack.spawn("engine", "engine")
    (execution_id,) = produce_burst(stack, 1, jobs=1)
    ended, finished = wait_ended(counter, [execution_id], 900)
    folded = rebuilds(stack)[before:]
    return {"snapshots": snapshots, "events_refolded": sum(n for n, _ in folded),
            "rebuild_s": round(sum(s for _, s in folded), 2),
            "seconds_to_run_one_execution": round(finished - started, 2) if ended else None}


def run(history: list[int], live: int, interval_s: float, cap_s: float) -> dict[str, Any]:
    logs = Path(tempfile.mkdtemp(prefix="kafkaban-bench-restart-"))
    with services() as running:
        result: dict[str, Any] = {"broker": running.describe_broker(), "live": live, "partitions": PARTITIONS,
                                  "snapshot_interval_s": interval_s, "sizes": []}
        stack = Stack(running.bootstrap, running.database_url, logs, PARTITIONS,
                      extra_env={"KAFKABAN_SNAPSHOT_INTERVAL": str(interval_s)})
        stack.start(parts=("engine", "worker"))
        counter = LogCounter(stack)
        try:
            step(f"{live:,} executions left waiting")
            produce_burst(stack, live, spec=WAITING)
            for events in history:
                step(f"topping the log up to {events:,} events")
                top_up(stack, counter, events, cap_s)
                time.sleep(interval_s * 2 + 5)  # a snapshot taken after the top-up, and published
                size: dict[str, Any] = {"events_in_log": len(counter.arrivals)}
                step(f"restarting at {size['events_in_log']:,} events: from the snapshot, then from offset 0")
                size["from_snapshot"] = restart(stack, counter, True, interval_s)
                size["from_start"] = restart(stack, counter, False, interval_s)
                snap, full = size["from_snapshot"]["rebuild_s"], size["from_start"]["rebuild_s"]
                size["rebuild_snapshot_over_start"] = round(snap / full, 3) if full else None
                result["sizes"].append(size)
                restart(stack, counter, True, interval_s)  # snapshots on again for the next size
        except TimeoutError as exc:
            result["error"] = str(exc)
        finally:
            counter.stop()
            stack.stop()
    sizes = result["sizes"]
    first, last = (sizes[0]["from_snapshot"], sizes[-1]["from_snapshot"]) if len(sizes) > 1 else ({}, {})
    if first.get("seconds_to_run_one_execution") and last.get("seconds_to_run_one_execution"):
        result["largest_over_smallest_from_snapshot"] = round(
            last["seconds_to_run_one_execution"] / first["seconds_to_run_one_execution"], 2)
    return result


def markdown(r: dict[str, Any]) -> str:
    lines = ["# Engine restart by history", "",
             f"Broker: {r['broker']}; {r['partitions']} partitions; {r['live']:,} executions live; snapshots every "
             f"{r['snapshot_interval_s']} s.", "",
             "| events in log | rebuild from snapshot (events, s) | rebuild from offset 0 (events, s) | ratio |"
             " restart to one run ended, snapshot / offset 0 (s) |",
             "| --- | --- | --- | --- | --- |"]
    for s in r["sizes"]:
        a, b = s["from_snapshot"], s["from_start"]
        lines.append(f"| {s['events_in_log']:,} | {a['events_refolded']:,}, {a['rebuild_s']} | "
                     f"{b['events_refolded']:,}, {b['rebuild_s']} | {s['rebuild_snapshot_over_start']} | "
                     f"{a['seconds_to_run_one_execution']} / {b['seconds_to_run_one_execution']} |")
    if "largest_over_smallest_from_snapshot" in r:
        lines += ["", f"Restart from a snapshot, largest log over smallest: {r['largest_over_smallest_from_snapshot']}"]
    if "error" in r:
        lines += ["", f"Stopped early: {r['error']}"]
    return "\n".join(lines + footer(r)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between snapshots")
    parser.add_argument("--cap", type=float, default=1800.0, help="seconds a top-up may take")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    result = run(args.history, args.live, args.interval, args.cap)
    result["versions"] = versions()
    write_results(args.out, f"restart-{stamp()}", result, markdown)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
