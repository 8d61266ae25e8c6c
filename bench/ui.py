"""The web UI in a real browser (Chromium through Playwright), against a real stack, each figure beside a raw
baseline measured in the same run:

- first render of a 1,000-job execution's page (its DAG and jobs table drawn) beside fetching and parsing the same
  execution's JSON from the page;
- first render of the executions list with 10,000 executions in the views, and its next page, beside the same
  list call made raw;
- the delay from a job's event (its time in the log) to its change on an open execution page, beside a client
  polling the REST API every 50 ms.

    python -m bench.ui                     # 10,000 executions, a 1,000-job flow, 20 watched changes
    python -m bench.ui --executions 2000 --jobs 300

Writes bench/results/ui-<time>.json and .md. Needs Chromium and Playwright (see the README's "Web UI").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.burst import produce_burst
from bench.common import footer, services, stamp, step, versions, write_results
from bench.kafka_benches import flow
from engine.domain.loader import load_flow
from projections.db import connect, migrate
from tests.integration.stack import Stack
from tests.support.browser import chromium

PARTITIONS = 3
RENDERS = 5


def wide_flow(jobs: int, width: int = 50) -> str:
    """Layers of ``width`` noop jobs, each depending on two of the layer before: a DAG with crossing edges."""
    lines = [f"name: wide{jobs}", "nodes:"]
    for i in range(jobs):
        layer, row = divmod(i, width)
        deps = "" if layer == 0 else (f", dependsOn: [j{(layer - 1) * width + row}, "
                                      f"j{(layer - 1) * width + (row + 1) % width}]")
        lines.append(f"  - {{name: j{i}, type: noop{deps}}}")
    return "\n".join(lines) + "\n"


def fill_views(stack: Stack, count: int) -> float:
    """``count`` one-job executions produced straight to Kafka; seconds until all are in the views."""
    started = time.perf_counter()
    produce_burst(stack, count, jobs=1)
    with connect(stack.settings.require_database(), stack.settings.database_schema) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM executions WHERE flow_name = %s AND status = 'SUCCEEDED'",
                               (flow("chain", 1).name,)).fetchone()
            if row and row[0] >= count:
                return time.perf_counter() - started
            time.sleep(1)


def logged_in(browser: Any, stack: Stack) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{stack.url}/login")
    page.fill("#token-login input[name=token]", stack.token)
    page.click("#token-login button[type=submit]")
    page.wait_for_url("**/executions")
    return page


def timed_render(page: Any, url: str, ready: str) -> float:
    """ms from the navigation's start to ``ready`` (a JS condition) holding, as the page's own clock says."""
    page.goto(url, wait_until="commit")
    page.wait_for_function(ready, timeout=120_000, polling="raf")
    return float(page.evaluate("() => performance.now()"))


def timed_fetch(page: Any, path: str) -> float:
    return float(page.evaluate("""async (path) => { const t = performance.now();
        const r = await fetch(path); await r.json(); return performance.now() - t; }""", path))


def big_execution(stack: Stack, page: Any, jobs: int) -> dict[str, Any]:
    step(f"a {jobs:,}-job execution")
    source = wide_flow(jobs)
    spec = load_flow(source)
    stack.register(source)
    execution_id = stack.submit(flow=spec.name)
    stack.wait_for(execution_id, timeout=600)
    url = f"{stack.url}/executions/{execution_id}"
    ready = (f"() => document.querySelectorAll('.graph .node[data-status=SUCCEEDED]').length === {jobs} && "
             f"document.querySelectorAll('table [data-job]').length >= {jobs}")
    renders = [timed_render(page, url, ready) for _ in range(RENDERS)]
    fetches = [timed_fetch(page, f"/api/v1/executions/{execution_id}") for _ in range(RENDERS)]
    graph = [timed_fetch(page, f"/api/v1/executions/{execution_id}/graph") for _ in range(RENDERS)]
    render, fetch = statistics.median(renders), statistics.median(fetches) + statistics.median(graph)
    return {"jobs": jobs, "render_ms_median": round(render), "render_ms": [round(r) for r in renders],
            "raw_fetch_ms_median": round(fetch, 1), "ratio": round(render / fetch, 1)}


def big_list(stack: Stack, page: Any, count: int) -> dict[str, Any]:
    step(f"{count:,} executions in the views")
    filled_s = fill_views(stack, count)
    ready = "() => document.querySelectorAll('table [data-execution]').length === 50"
    renders = [timed_render(page, f"{stack.url}/executions", ready) for _ in range(RENDERS)]
    older = page.get_attribute("a[rel=next]", "href")
    nexts = [timed_render(page, f"{stack.url}{older}", ready) for _ in range(RENDERS)]
    raws = [timed_fetch(page, "/api/v1/executions?limit=50") for _ in range(RENDERS)]
    render, raw = statistics.median(renders), statistics.median(raws)
    return {"executions": count, "filled_s": round(filled_s, 1), "render_ms_median": round(render),
            "next_page_ms_median": round(statistics.median(nexts)), "raw_list_ms_median": round(raw, 1),
            "ratio": round(render / raw, 1)}


def api_poller(stack: Stack, execution_id: str, seen: dict[str, float], stop: threading.Event) -> None:
    """The baseline: a client polling the REST API every 50 ms, noting when each job is first seen ended."""
    while not stop.is_set():
        found = stack.execution(execution_id) or {"jobs": []}
        for job in found["jobs"]:
            if job["status"] == "SUCCEEDED" and job["job"] not in seen:
                seen[job["job"]] = time.time() * 1000
        time.sleep(0.05)


def live_delay(stack: Stack, page: Any, changes: int) -> dict[str, Any]:
    step(f"{changes} live changes")
    name = f"steps{uuid.uuid4().hex[:6]}"
    nodes = [f"  - {{name: s{i}, type: command, config: {{command: 'sleep 0.4'}}"
             + (f", dependsOn: [s{i - 1}]}}" if i else "}") for i in range(changes)]
    stack.register(f"name: {name}\nnodes:\n" + "\n".join(nodes) + "\n")
    execution_id = stack.submit(flow=name)
    page.goto(f"{stack.url}/executions/{execution_id}")
    page.wait_for_selector(".graph .node")
    page.evaluate("""() => { window.seen = {};
        new MutationObserver((records) => { for (const r of records) {
          const n = r.target; if (n.dataset.status === 'SUCCEEDED' && !(n.dataset.job in window.seen))
            window.seen[n.dataset.job] = performance.timeOrigin + performance.now(); } })
        .observe(document.querySelector('.graph'), { attributes: true, subtree: true,
                                                     attributeFilter: ['data-status'] }); }""")
    polled: dict[str, float] = {}
    stop = threading.Event()
    poller = threading.Thread(target=api_poller, args=(stack, execution_id, polled, stop), daemon=True)
    poller.start()
    stack.wait_for(execution_id, timeout=300)
    time.sleep(1)
    stop.set()
    poller.join()
    on_page: dict[str, float] = page.evaluate("() => window.seen")
    events = {e["payload"]["job"]: e for e in stack.api("GET", f"/api/v1/executions/{execution_id}/events")["events"]
              if e["type"] == "JobSucceeded"}
    def delays(seen: dict[str, float]) -> list[float]:
        from datetime import datetime
        return [seen[job] - datetime.fromisoformat(e["occurred_at"]).timestamp() * 1000
                for job, e in events.items() if job in seen]
    page_delays, api_delays = delays(on_page), delays(polled)
    return {"changes": len(events), "seen_on_page": len(page_delays),
            "page_delay_ms_median": round(statistics.median(page_delays)),
            "page_delay_ms_max": round(max(page_delays)),
            "api_poll_delay_ms_median": round(statistics.median(api_delays)),
            "ratio": round(statistics.median(page_delays) / statistics.median(api_delays), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    results: dict[str, Any] = {"started": stamp(), "versions": versions(),
                               "settings": {"partitions": PARTITIONS, "renders": RENDERS,
                                            "parts": "engine + projector + 1 worker (4 slots) + api"}}
    with services() as running, chromium() as browser:
        logs = Path(tempfile.mkdtemp(prefix="kafkaban-bench-ui-"))
        stack = Stack(running.bootstrap, running.database_url, logs, PARTITIONS)
        migrate(stack.settings.require_database(), stack.settings.database_schema)
        stack.start()
        try:
            results["broker"] = running.describe_broker()
            results["browser"] = browser.version
            page = logged_in(browser, stack)
            results["execution_page"] = big_execution(stack, page, args.jobs)
            results["live"] = live_delay(stack, page, args.changes)
            results["list_page"] = big_list(stack, page, args.executions)
        finally:
            stack.stop()
    write_results(args.out, f"ui-{results['started']}", results, markdown)


def markdown(results: dict[str, Any]) -> str:
    x, lst, live = results["execution_page"], results["list_page"], results["live"]
    lines = [f"# Web UI in Chromium {results['browser']} ({results['started']})", "",
             "| measure | Kafkaban UI | raw baseline (same run) | ratio |", "| --- | --- | --- | --- |",
             f"| first render, {x['jobs']:,}-job execution page (DAG + jobs table), median of {RENDERS} | "
             f"{x['render_ms_median']} ms | {x['raw_fetch_ms_median']} ms (fetch + parse its JSON and graph) | "
             f"{x['ratio']} |",
             f"| first render, executions list with {lst['executions']:,} executions | {lst['render_ms_median']} ms "
             f"(next page {lst['next_page_ms_median']} ms) | {lst['raw_list_ms_median']} ms (the list call) | "
             f"{lst['ratio']} |",
             f"| event in Kafka to its change on an open page, median of {live['seen_on_page']} | "
             f"{live['page_delay_ms_median']} ms (max {live['page_delay_ms_max']}) | "
             f"{live['api_poll_delay_ms_median']} ms (a client polling the API every 50 ms) | {live['ratio']} |",
             "", f"Broker: {results['broker']}", *footer(results)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
