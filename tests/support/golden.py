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
    h.run("b")  # all_done handles a's failure: b runs, and the flow succeeds (Azkaban's setFlowFailed)


def _rejected(h: Harness) -> None:
    h.submit()


def _all_failed_handles_both_failures(h: Harness) -> None:
    # Azkaban FlowRunnerConditionalFlowTest.runFlowOnJobStatusAllFailed: jobA fails, jobB fails, jobC
    # (all_failed) runs; jobA and jobB stay FAILED and the flow SUCCEEDS
    h.submit()
    h.run("jobA", ok=False)
    h.run("jobB", ok=False)
    h.run("jobC")


def _one_success_after_a_failure(h: Harness) -> None:
    # FlowRunnerConditionalFlowTest.runFlowOnJobStatusOneSuccess: jobA succeeds, jobB fails, jobC (one_success)
    # waits for both, then runs; the flow SUCCEEDS
    h.submit()
    h.run("jobA")
    h.run("jobB", ok=False)
    h.run("jobC")


def _output_conditions_skip_the_end_job(h: Harness) -> None:
    # FlowRunnerConditionalFlowTest.runFlowOnJobOutputCondition: jobB runs, jobC's condition is false, and jobD
    # (the end job) cannot run: Azkaban ends the flow KILLED, Kafkaban FAILED naming jobD
    h.submit()
    h.run("jobA", outputs={"key1": '"value1"', "key2": '"value2"', "key3": '"value4"'})
    h.run("jobB")


def _status_and_output_condition(h: Harness) -> None:
    # FlowRunnerConditionalFlowTest.runFlowOnBothJobStatusAndPropsCondition: jobC is skipped, jobD
    # (one_success && an output of jobA) runs; the flow SUCCEEDS
    h.submit()
    h.run("jobA", outputs={"props": '"foo"'})
    h.run("jobB")
    h.run("jobD")


def _unhandled_failure_cancels_the_handler(h: Harness) -> None:
    # FlowRunner.setFlowFailed: jobA's failure is unhandled (jobB runs only on success), so under
    # finish_current (FINISH_CURRENTLY_RUNNING) the not-yet-started jobC is cancelled too; the flow FAILS
    h.submit()
    h.run("jobA", ok=False)


def _handled_failure_under_cancel_all(h: Harness) -> None:
    # FlowRunner.setFlowFailed: every child of jobA handles its failure, so even cancel_all kills nothing
    h.submit()
    h.run("jobA", ok=False)
    h.run("jobB")
    h.run("jobC")


def _a_failing_handler_fails_the_flow(h: Harness) -> None:
    h.submit()
    h.run("jobA", ok=False)
    h.run("jobB", ok=False)


SCENARIOS: dict[str, tuple[str, Callable[[Harness], None]]] = {
    "all_failed_handles_both_failures": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop}
  - {name: jobC, type: noop, dependsOn: [jobA, jobB], condition: all_failed}
""", _all_failed_handles_both_failures),
    "one_success_after_a_failure": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop}
  - {name: jobC, type: noop, dependsOn: [jobA, jobB], condition: one_success}
""", _one_success_after_a_failure),
    "output_conditions_skip_the_end_job": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop, dependsOn: [jobA], condition: "${jobA:key1} == 'value1'"}
  - {name: jobC, type: noop, dependsOn: [jobA], condition: "${jobA:key3} == 'value3'"}
  - {name: jobD, type: noop, dependsOn: [jobB, jobC], condition: "${jobA:key2} == 'value2'"}
""", _output_conditions_skip_the_end_job),
    "status_and_output_condition": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop, dependsOn: [jobA], condition: "${jobA:props} == 'foo'"}
  - {name: jobC, type: noop, dependsOn: [jobA], condition: "${jobA:props} == 'bar'"}
  - {name: jobD, type: noop, dependsOn: [jobB, jobC], condition: "one_success && ${jobA:props} == 'foo'"}
""", _status_and_output_condition),
    "unhandled_failure_cancels_the_handler": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop, dependsOn: [jobA]}
  - {name: jobC, type: noop, dependsOn: [jobA], condition: all_failed}
""", _unhandled_failure_cancels_the_handler),
    "handled_failure_under_cancel_all": ("""
failure_policy: cancel_all
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop, dependsOn: [jobA], condition: one_failed}
  - {name: jobC, type: noop, dependsOn: [jobA], condition: all_done}
""", _handled_failure_under_cancel_all),
    "a_failing_handler_fails_the_flow": ("""
nodes:
  - {name: jobA, type: noop}
  - {name: jobB, type: noop, dependsOn: [jobA], condition: all_failed}
""", _a_failing_handler_fails_the_flow),
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
