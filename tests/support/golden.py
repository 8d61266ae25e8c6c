"""Golden histories: recorded event logs with the final state they must fold to.

Record them again (after a deliberate change of behaviour, reviewed in the diff) with
``python -m tests.support.golden``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.codec.json_events import event_to_json
from engine.domain import events as ev
from engine.domain.state import ExecutionState
from tests.support.harness import Harness

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


def summary(state: ExecutionState | None) -> dict[str, Any]:
    assert state is not None
    return {
        "status": state.status.value,
        "errors": list(state.errors),
        "jobs": {name: {"status": job.status.value, "attempt": job.attempt, "lost_attempts": job.lost_attempts,
                        "error": job.error, "reason": job.reason, "outputs": dict(job.outputs)}
                 for name, job in state.jobs.items()},
    }


def _diamond_with_retry(h: Harness) -> None:
    h.submit()
    h.run("a", outputs={"rows": "3"})
    h.start("b")
    h.fail("b", "exit 2")
    h.advance(1_000)
    h.run("b")
    h.run("c")
    h.run("d")


def _cancel_mid_run(h: Harness) -> None:
    h.submit()
    h.run("a")
    h.start("b")
    h.feed(ev.CancelRequested("alice", "wrong input"), producer="api")
    h.fail("b", "killed by SIGTERM")


def _lost_then_timeout(h: Harness) -> None:
    h.submit()
    h.start("a", worker="w1")
    h.advance(10_000)  # lease of attempt 1 expires: lost, retried at once
    h.start("a", worker="w2")
    for _ in range(3):  # w2 keeps its lease alive, but attempt 2 runs past its 12 s timeout
        h.advance(5_000)
        h.heartbeat("a")


def _rejected(h: Harness) -> None:
    h.submit()


SCENARIOS: dict[str, tuple[str, Callable[[Harness], None]]] = {
    "diamond_with_retry": ("""
nodes:
  - {name: a, type: noop}
  - {name: b, type: noop, dependsOn: [a], retry: {max_attempts: 2, backoff: 1s}}
  - {name: c, type: noop, dependsOn: [a], condition: "${a:rows} > 2"}
  - {name: d, type: noop, dependsOn: [b, c]}
""", _diamond_with_retry),
    "cancel_mid_run": ("""
nodes:
  - {name: a, type: noop}
  - {name: b, type: noop, dependsOn: [a]}
  - {name: c, type: noop, dependsOn: [a]}
  - {name: d, type: noop, dependsOn: [b, c]}
""", _cancel_mid_run),
    "lost_then_timeout": ("""
nodes:
  - {name: a, type: noop, lease: 10s, timeout: 12s, retry: {max_attempts: 1}}
  - {name: b, type: noop, dependsOn: [a], condition: all_done}
""", _lost_then_timeout),
    "rejected_missing_param": ("params: {day: null}\nnodes: [{name: a, type: noop}]", _rejected),
}


def record(name: str) -> dict[str, Any]:
    flow, play = SCENARIOS[name]
    h = Harness(flow, execution_id=f"golden-{name}")
    play(h)
    return {"name": name, "events": [event_to_json(e) for e in h.log], "final_state": summary(h.state)}


if __name__ == "__main__":
    GOLDEN_DIR.mkdir(exist_ok=True)
    for scenario in SCENARIOS:
        (GOLDEN_DIR / f"{scenario}.json").write_text(json.dumps(record(scenario), indent=1) + "\n")
        print("recorded", scenario)
