"""The fault suite at full size: each fault alone, on a Kafka node and a PostgreSQL of its own, during a load of
executions whose command jobs write a ledger, with about 1% poison records mixed in.

    python -m bench.faults                       # 400 executions at 5/s per fault, outages of 20 s
    python -m bench.faults --executions 100 --outage 5 --faults "engine SIGKILL"

Per fault: executions submitted (accepted by the API) and ended, lost, stuck, executions with more than one
ending event, attempts started by more than one process and attempts run to their end by more than one (from
the ledger), stale worker reports the fold ignored, poison sent and dead letters (against the dead-letterable
poison), recovery (seconds from the fault's end to the next execution ending), views caught up (seconds from the
fault's end until the views hold all the log held then), replay verify (with --max-lag 0, once the projector
caught up). The cluster faults (the node leading the
most executions partitions SIGKILLed, or cut off by SIGSTOP, for the outage) run on 3 nodes with replication 3
and min.insync.replicas 2. Writes bench/results/faults-<time>.json and .md (tests/faults/harness.py does the
work).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import footer, stamp, step, versions, write_results
from tests.faults.harness import CLUSTER_FAULTS, FAULTS, Figures, Run, services

EVERY_FAULT = {**FAULTS, **CLUSTER_FAULTS}

COLUMNS = [("fault", "fault"), ("submitted", "submitted"), ("ended", "ended"), ("lost", "lost"), ("stuck", "stuck"),
           ("duplicate_terminals", "duplicate terminal"), ("attempts_run_twice", "attempts run twice"),
           ("attempts_completed_twice", "attempts completed twice"),
           ("stale_reports_rejected", "stale reports rejected"), ("poison_sent", "poison sent"),
           ("poison_dead_letterable", "dead-letterable"), ("dead_letters", "dead letters"),
           ("recovery_s", "recovery s"), ("views_caught_up_s", "views caught up s"), ("verify_ok", "replay verify"),
           ("seconds", "run s")]


def one(fault: str, executions: int, rate: float, outage: float, root: Path) -> Figures:
    nodes = 3 if fault in CLUSTER_FAULTS else 1
    step(f"{fault}: {executions} executions at {rate:g}/s on {nodes} Kafka node(s)")
    with services(root / "services", nodes) as running:
        run = Run(running, root / "run")
        try:
            started = time.monotonic()
            load = threading.Thread(target=run.submit, args=(executions, rate), kwargs={"poison_every": 100})
            load.start()
            time.sleep(executions / rate / 3)  # a third of the way in
            step(f"{fault}: now")
            ended = EVERY_FAULT[fault](run, outage)
            views = run.views_caught_up_after(ended)  # first: it reads the log's end as the fault ends
            recovery = run.recovery_after(ended)
            load.join()
            run.settle(timeout=300)
            figures = run.judge(fault, recovery, started)
            figures.views_caught_up_s = views
        finally:
            run.close()
    step(f"{fault}: {'sound' if figures.sound else 'NOT SOUND'} {figures.row()}")
    if not figures.sound:
        for note in figures.notes:
            step(f"{fault}:   {note}")
    return figures


def markdown(results: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, bool):
            return "passed" if value else "FAILED"
        if isinstance(value, float):
            return f"{value:.2f}"
        return "-" if value is None else str(value)

    lines = [f"# Faults, {results['time']}", "",
             f"{results['settings']['executions']} executions per fault at {results['settings']['rate']}/s, "
             f"outages of {results['settings']['outage_s']} s, poison every 100th submission; one Kafka node (3 for "
             f"the cluster faults) and one PostgreSQL per fault, 2 workers of 4 slots.", "",
             "| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + " --- |" * len(COLUMNS)]
    for row in results["rows"]:
        lines.append("| " + " | ".join(cell(row[key]) for key, _ in COLUMNS) + " |")
    if results.get("note"):
        lines += ["", results["note"]]
    return "\n".join(lines + footer(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=400)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--outage", type=float, default=20.0,
                        help="seconds PostgreSQL, the broker or a cluster node stays down")
    parser.add_argument("--faults", nargs="*", default=list(EVERY_FAULT), choices=list(EVERY_FAULT))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rows = []
    for fault in args.faults:
        with tempfile.TemporaryDirectory(prefix="kafkaban-faults-") as root:
            rows.append(one(fault, args.executions, args.rate, args.outage, Path(root)).row())
    results = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "versions": versions(), "rows": rows,
               "settings": {"executions": args.executions, "rate": args.rate, "outage_s": args.outage}}
    write_results(args.out, f"faults-{stamp()}", results, markdown)


if __name__ == "__main__":
    main()
