"""Kafkaban benchmarks: every figure next to a raw baseline measured in the same run, on the same machine.

    python -m bench.run            # full sizes (a few minutes)
    python -m bench.run --smoke    # small sizes, under a minute: proves the harness runs, says nothing of speed

Uses KAFKABAN_BOOTSTRAP / KAFKABAN_DATABASE_URL when set, else starts Apache Kafka (KRaft, one node; or tansu
with KAFKABAN_EMBEDDED_BROKER=tansu) and a private PostgreSQL. Writes bench/results/<name>.json and .md and
prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Services, footer, services, stamp, step, versions, write_results
from bench.growth import measure
from bench.kafka_benches import dispatch_latency, end_to_end, fold_throughput, projection_and_replay
from tests.integration.stack import Stack

FULL = {"fold": 20_000, "latency": 300, "e2e": 500, "growth": [(1_000, 10), (10_000, 10), (100_000, 10),
                                                                 (1_000, 1_000)], "reports": 20_000}
SMOKE = {"fold": 300, "latency": 20, "e2e": 20, "growth": [(200, 10), (1_000, 10), (50, 200)], "reports": 1_000}
PARTITIONS = 6
TARGETS = {"fold_events_per_s": 10_000, "fold_ratio": 0.3, "dispatch_p99_ratio": 3.0, "dispatch_p99_ms": 50,
           "e2e_jobs_per_s": 1_000, "projector_ratio": 0.5}


def run(smoke: bool, out_dir: Path) -> dict[str, Any]:
    sizes = SMOKE if smoke else FULL
    with services() as running:
        return _run(smoke, sizes, running, out_dir)


def _run(smoke: bool, sizes: dict[str, Any], running: Services, out_dir: Path) -> dict[str, Any]:
    bootstrap, database_url = running.bootstrap, running.database_url
    logs = Path(tempfile.mkdtemp(prefix="kafkaban-bench-"))
    results: dict[str, Any] = {"mode": "smoke" if smoke else "full",
                               "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "versions": versions(),
                               "settings": {"partitions": PARTITIONS, "broker": running.describe_broker(),
                                            "database": "external" if os.environ.get("KAFKABAN_DATABASE_URL") else
                                            "pgserver",
                                            "session_timeout_ms": 6000, "processing_guarantee": "at_least_once",
                                            "worker_slots": 4, "sizes": sizes}}
    step("fold throughput")
    alone = Stack(bootstrap, database_url, logs / "fold", PARTITIONS)
    (logs / "fold").mkdir()
    alone.start(parts=("engine",))
    try:
        results["fold"] = fold_throughput(alone.settings, sizes["fold"])
    finally:
        alone.stop()
    full = Stack(bootstrap, database_url, logs / "full", PARTITIONS)
    (logs / "full").mkdir()
    full.start()
    try:
        step("dispatch latency")
        results["latency"] = dispatch_latency(full.settings, sizes["latency"])
        step("end to end")
        results["e2e"] = end_to_end(full.settings, sizes["e2e"])
        step("projection, rebuild, verify")
        results["projection"] = projection_and_replay(full.settings)
    finally:
        full.stop()
    step("growth (in process)")
    results["growth"] = [measure(live, jobs, sizes["reports"]) for live, jobs in sizes["growth"]]
    results["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    write_results(out_dir, "smoke" if smoke else f"full-{stamp()}", results, markdown)
    return results


def markdown(r: dict[str, Any]) -> str:
    fold, lat, e2e, proj = r["fold"], r["latency"], r["e2e"], r["projection"]
    rows = [
        ("fold: processor inputs/s (1 input -> 2 derived events + 1 dispatch)", fold["engine_inputs_per_s"],
         f"raw consume->produce {fold['raw_events_per_s']}/s", fold["ratio"], "≥ 0.3 and ≥ 10,000 events/s"),
        ("fold: events handled/s (inputs + derived read back)", fold["engine_events_per_s"], "", "", ""),
        ("submit -> dispatch p50/p95/p99 ms", _p(lat["submit_to_dispatch_ms"]),
         f"raw hop {_p(lat['raw_hop_ms'])}", lat["dispatch_p99_ratio"], "p99 ≤ 3x raw and < 50 ms"),
        ("submit -> job start p50/p95/p99 ms", _p(lat["submit_to_start_ms"]), "", "", ""),
        (f"end to end: {e2e['executions']} executions x {e2e['jobs_per_execution']} noop jobs, jobs/s",
         e2e["jobs_per_s"], f"{e2e['executions_per_s']} executions/s", "", "≥ 1,000 jobs/s"),
        ("projector lag p50/p95/p99 (records)", _p(e2e["projector_lag_records"]), "", "", ""),
        ("projector ingest events/s (rows/s)", f"{proj['projector_events_per_s']} ({proj['projector_rows_per_s']})",
         f"raw COPY {proj['raw_copy_rows_per_s']} rows/s", proj["ratio_events_vs_copy"], "≥ 0.5"),
        ("projections rebuild events/s", proj["rebuild_events_per_s"], "", "", ""),
        ("replay verify events/s", proj["verify_events_per_s"], f"verify ok: {proj['verify_ok']}", "", ""),
    ]
    for g in r["growth"]:
        rows.append((f"growth: fold in core, {g['live_executions']:,} live x {g['jobs_per_flow']}-job flows",
                     f"{g['events_per_s']} events/s ({g['us_per_event']} µs)",
                     f"{g['rss_mib']} MiB, {g['kib_per_execution']} KiB/execution", "", ""))
    lines = [f"# Kafkaban benchmark ({r['mode']}, {r['started_at']})", "",
             "| measure | Kafkaban | raw baseline (same run) | ratio | target |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += footer(r)
    return "\n".join(lines)


def _p(p: dict[str, Any]) -> str:
    return f"{p['p50']} / {p['p95']} / {p['p99']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small sizes; checks the harness, not the speed")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    run(args.smoke, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
