"""Given/when/then tests of the engine's rules, driven through the pure process() the processor uses."""

from __future__ import annotations

import pytest

from engine.domain import events as ev
from engine.domain.commands import KillJob
from engine.domain.ids import execution_id_for_key
from engine.domain.react import backoff_ms
from tests.support.harness import Harness

DIAMOND = """
nodes:
  - {name: a, type: noop}
  - {name: b, type: noop, dependsOn: [a]}
  - {name: c, type: noop, dependsOn: [a]}
  - {name: d, type: noop, dependsOn: [b, c]}
"""


def test_diamond_runs_in_dependency_order_and_succeeds():
    h = Harness(DIAMOND)
    h.submit()
    assert [d.job for d in h.dispatched()] == ["a"]
    h.run("a")
    assert [d.job for d in h.dispatched()] == ["a", "b", "c"]
    h.run("b")
    assert h.job("d").status == "PENDING"  # waits for c too
    h.run("c")
    assert h.dispatched()[-1].job == "d"
    h.run("d")
    assert h.state.status == "SUCCEEDED"
    assert h.types()[-1] == "ExecutionSucceeded"
    assert h.folded() == h.state


def test_dispatch_carries_params_config_and_upstream_outputs():
    h = Harness("""
params: {region: eu, day: null}
nodes:
  - {name: a, type: command, config: {command: "echo ${day}"}}
  - {name: b, type: command, config: {command: "echo b"}, dependsOn: [a], pool: gpu,
     resources: {cpu: 2, memory: 1Gi}, timeout: 5m, lease: 20s}
""")
    h.submit({"day": "2026-11-21"})
    first = h.dispatched()[0]
    assert first.params == {"region": "eu", "day": "2026-11-21"}
    assert first.config["command"] == "echo ${day}"
    h.run("a", outputs={"rows": "42"})
    second = h.dispatched()[1]
    assert (second.pool, second.cpu, second.memory_mb, second.timeout_ms, second.lease_ms) == ("gpu", 2, 1024,
                                                                                                  300_000, 20_000)
    assert second.inputs == {"a:rows": "42"}
    assert h.log[-1].payload == ev.JobDispatched("b", 1, "gpu", 20_000)


def test_missing_required_param_rejects_the_submission():
    h = Harness("params: {day: null}\nnodes: [{name: a, type: noop}]")
    h.submit()
    assert h.state.status == "REJECTED"
    assert h.state.errors == ("missing required params: day",)
    assert h.dispatched() == []


def test_invalid_snapshot_is_rejected_with_every_error():
    h = Harness(DIAMOND)
    broken = h.spec.__class__(name="bad flow", jobs=(
        h.spec.jobs[0].__class__(name="x", type="command", depends_on=("y",)),
    ))
    h.submit(definition=broken, flow_name="bad flow", definition_hash=broken.version_hash())
    assert h.state.status == "REJECTED"
    errors = "\n".join(h.state.errors)
    assert "needs config.command" in errors and "unknown dependency 'y'" in errors and "flow name" in errors
    assert h.types() == ["ExecutionSubmitted", "ExecutionRejected"]


def test_hash_that_does_not_match_the_definition_is_rejected():
    h = Harness(DIAMOND)
    h.submit(definition_hash="sha256:0000")
    assert h.state.status == "REJECTED"
    assert "does not match the definition" in h.state.errors[0]


def test_idempotency_key_maps_to_one_execution():
    key = "nightly-2026-11-21"
    h = Harness(DIAMOND, execution_id=execution_id_for_key("flow", key))
    h.submit(idempotency_key=key)
    assert h.state.status == "RUNNING"
    again = h.submit(idempotency_key=key, params={"other": "x"})
    assert not again.changed and again.events == [] and len(h.dispatched()) == 1
    wrong = Harness(DIAMOND, execution_id="chosen-by-hand")
    wrong.submit(idempotency_key=key)
    assert wrong.state.status == "REJECTED"
    assert "execution id must be" in wrong.state.errors[0]


def test_retry_with_exponential_backoff_then_success():
    h = Harness("""
nodes:
  - name: flaky
    type: noop
    retry: {max_attempts: 3, backoff: 10s, max_backoff: 15s}
""")
    h.submit()
    h.run("flaky", ok=False)
    assert h.job("flaky").status == "RETRY_WAIT" and h.job("flaky").not_before == h.now + 10_000
    h.advance(9_999)
    assert h.job("flaky").status == "RETRY_WAIT"
    h.advance(1)
    assert h.job("flaky").status == "DISPATCHED" and h.attempt("flaky") == 2
    h.run("flaky", ok=False)
    assert h.job("flaky").not_before == h.now + 15_000  # 20 s capped at 15 s
    h.advance(15_000)
    h.run("flaky")
    assert h.state.status == "SUCCEEDED"
    assert [d.attempt for d in h.dispatched()] == [1, 2, 3]


def test_retries_exhausted_fail_the_execution():
    h = Harness("nodes: [{name: a, type: noop, config: {retries: 1, retry.backoff: 0}}]")
    h.submit()
    h.run("a", ok=False)
    h.run("a", ok=False)  # zero backoff: attempt 2 was queued at once
    assert h.state.status == "FAILED"
    assert h.log[-1].payload == ev.ExecutionFailed(("a",))
    assert h.job("a").attempt == 2


def test_jitter_is_deterministic_and_bounded():
    spec = Harness("nodes: [{name: a, type: noop, retry: {max_attempts: 5, backoff: 10s, jitter: 0.5}}]").spec.jobs[0]
    delays = [backoff_ms(spec, "ex", attempt) for attempt in (2, 3, 4)]
    assert delays == [backoff_ms(spec, "ex", attempt) for attempt in (2, 3, 4)]
    for delay, base in zip(delays, (10_000, 20_000, 40_000), strict=True):
        assert base * 0.5 <= delay <= base * 1.5


def test_timeout_kills_the_attempt_and_retries_it():
    h = Harness("nodes: [{name: slow, type: noop, timeout: 30s, lease: 60s, retry: {max_attempts: 2}}]")
    h.submit()
    h.start("slow")
    h.advance(29_999)
    assert h.job("slow").status == "RUNNING"
    fired = h.advance(1)
    assert [e.type for e in fired] == ["JobTimedOut"]
    assert [(k.job, k.attempt) for k in h.kills()] == [("slow", 1)]
    assert h.attempt("slow") == 2 and h.job("slow").status == "DISPATCHED"
    assert not h.fail("slow", attempt=1).changed  # the killed attempt's late report is stale


def test_lost_lease_is_retried_without_using_a_failure_attempt():
    h = Harness("nodes: [{name: a, type: noop, lease: 10s}]")
    h.submit()
    h.start("a", worker="w1")
    fired = h.advance(10_000)
    assert [e.type for e in fired] == ["JobLost"]
    assert h.job("a").lost_attempts == 1 and h.attempt("a") == 2
    h.start("a", worker="w2")
    h.succeed("a")
    assert h.state.status == "SUCCEEDED"
    assert h.job("a").worker_id == "w2"


def test_lost_too_often_fails():
    h = Harness("nodes: [{name: a, type: noop, lease: 10s, retry: {max_lost: 1}}]")
    h.submit()
    for _ in range(2):
        h.start("a")
        h.advance(10_000)
    assert h.state.status == "FAILED"
    assert "lease expired" in h.job("a").error


def test_timer_event_ids_are_deterministic():
    a, b = Harness("nodes: [{name: a, type: noop, lease: 10s}]"), Harness("nodes: [{name: a, type: noop, lease: 10s}]")
    for h in (a, b):
        h.submit()
        h.start("a")
    assert a.advance(10_000)[0].event_id == b.advance(10_000)[0].event_id


def test_stale_and_duplicate_reports_change_nothing():
    h = Harness("nodes: [{name: a, type: noop, retry: {max_attempts: 2}}]")
    h.submit()
    h.run("a", ok=False)
    assert h.attempt("a") == 2
    before = h.state
    for payload in (ev.JobSucceeded("a", 1), ev.JobFailed("a", 1, 1, "late")):
        step = h.feed(payload)
        assert not step.changed and step.events == [] and step.commands == []
    stale_start = h.feed(ev.JobStarted("a", 1, "w9"))
    assert not stale_start.changed and stale_start.events == []
    assert stale_start.commands == [KillJob(h.execution_id, "a", 1, "this attempt is no longer wanted", "w9")]
    assert h.state is before
    duplicate = h.log[0]
    assert not h.feed_event(duplicate).changed


def test_a_job_succeeds_or_fails_at_most_once_per_attempt():
    h = Harness("nodes: [{name: a, type: noop, retry: {max_attempts: 3}}]")
    h.submit()
    h.start("a")
    h.succeed("a")
    assert not h.fail("a", attempt=1).changed
    assert h.state.status == "SUCCEEDED"


def test_conditions_macros_choose_which_jobs_run():
    h = Harness("""
failure_policy: finish_all_possible
nodes:
  - {name: ok, type: noop}
  - {name: bad, type: noop}
  - {name: on_all_success, type: noop, dependsOn: [ok, bad], condition: all_success}
  - {name: on_all_done, type: noop, dependsOn: [ok, bad], condition: all_done}
  - {name: on_all_failed, type: noop, dependsOn: [ok, bad], condition: all_failed}
  - {name: on_one_success, type: noop, dependsOn: [ok, bad], condition: one_success}
  - {name: on_one_failed, type: noop, dependsOn: [ok, bad], condition: one_failed}
""")
    h.submit()
    h.run("ok")
    h.run("bad", ok=False)
    queued = {d.job for d in h.dispatched()} - {"ok", "bad"}
    assert queued == {"on_all_done", "on_one_success", "on_one_failed"}
    assert h.job("on_all_success").status == "SKIPPED" and h.job("on_all_failed").status == "SKIPPED"
    assert h.job("on_all_failed").reason == "condition is false: all_failed"


def test_condition_expression_over_upstream_outputs():
    flow = """
nodes:
  - {name: check, type: noop}
  - {name: load, type: noop, dependsOn: [check], condition: "${check:rows} > 0 && ${check:mode} == 'full'"}
  - {name: alert, type: noop, dependsOn: [check], condition: "${check:rows} == 0"}
"""
    h = Harness(flow)
    h.submit()
    h.run("check", outputs={"rows": "12", "mode": '"full"'})
    assert h.statuses() == {"check": "SUCCEEDED", "load": "DISPATCHED", "alert": "SKIPPED"}
    g = Harness(flow)
    g.submit()
    g.run("check", outputs={"rows": "0"})
    assert g.statuses() == {"check": "SUCCEEDED", "load": "SKIPPED", "alert": "DISPATCHED"}


def test_skips_propagate_and_an_end_job_that_did_not_run_fails_the_execution():
    # Azkaban FlowRunnerConditionalFlowTest.runFlowOnJobOutputCondition: the end job cancelled by a condition
    # ends the flow KILLED (FlowRunner.finalizeFlow); Kafkaban has no KILLED and fails it
    h = Harness("""
nodes:
  - {name: a, type: noop}
  - {name: b, type: noop, dependsOn: [a], condition: "${a:go} == 1"}
  - {name: c, type: noop, dependsOn: [b]}
""")
    h.submit()
    h.run("a", outputs={"go": "0"})
    assert h.statuses() == {"a": "SUCCEEDED", "b": "SKIPPED", "c": "SKIPPED"}
    assert h.job("c").reason == "upstream not successful: b"
    assert h.state.status == "FAILED"
    assert h.log[-1].payload == ev.ExecutionFailed(("c",))


FAN = """
failure_policy: {policy}
nodes:
  - {{name: root, type: noop}}
  - {{name: x, type: noop, dependsOn: [root]}}
  - {{name: y, type: noop, dependsOn: [root]}}
  - {{name: y2, type: noop, dependsOn: [y]}}
  - {{name: x2, type: noop, dependsOn: [x]}}
"""


def test_finish_current_lets_running_jobs_end_and_starts_nothing_new():
    h = Harness(FAN.format(policy="finish_current"))
    h.submit()
    h.run("root")
    h.start("y")
    h.run("x", ok=False)
    assert h.kills() == []
    assert h.job("x2").status == "CANCELLED" and h.job("y2").status == "CANCELLED"
    assert h.job("y").status == "RUNNING"
    h.succeed("y")
    assert h.job("y").status == "SUCCEEDED"
    assert h.state.status == "FAILED"
    assert h.log[-1].payload == ev.ExecutionFailed(("x",))


def test_cancel_all_kills_running_jobs():
    h = Harness(FAN.format(policy="cancel_all"))
    h.submit()
    h.run("root")
    h.start("y")
    h.run("x", ok=False)
    assert [(k.job, k.attempt) for k in h.kills()] == [("y", 1)]
    h.fail("y", error="killed by SIGTERM")
    assert h.statuses() == {"root": "SUCCEEDED", "x": "FAILED", "y": "CANCELLED", "x2": "CANCELLED",
                            "y2": "CANCELLED"}
    assert h.state.status == "FAILED"


def test_finish_all_possible_runs_every_branch_that_does_not_depend_on_the_failure():
    h = Harness(FAN.format(policy="finish_all_possible"))
    h.submit()
    h.run("root")
    h.run("x", ok=False)
    assert h.job("x2").status == "SKIPPED"
    h.run("y")
    h.run("y2")
    assert h.job("y2").status == "SUCCEEDED"
    assert h.state.status == "FAILED"


def test_finish_current_does_not_retry_other_jobs_after_a_final_failure():
    h = Harness("""
nodes:
  - {name: a, type: noop}
  - {name: b, type: noop, retry: {max_attempts: 3}}
""")
    h.submit()
    h.start("b")
    h.run("a", ok=False)
    h.fail("b")
    assert h.job("b").status == "FAILED" and h.attempt("b") == 1
    assert h.state.status == "FAILED"


def test_cancel_cancels_waiting_jobs_kills_running_ones_and_ends_when_they_end():
    h = Harness(FAN.format(policy="finish_current"))
    h.submit()
    h.run("root")
    h.start("x")  # y stays DISPATCHED (sent, not started)
    h.feed(ev.CancelRequested("alice", "wrong date"), producer="api")
    assert h.job("y").status == "CANCELLED"
    assert h.job("x2").status == "CANCELLED" and h.job("y2").status == "CANCELLED"
    assert {(k.job, k.attempt) for k in h.kills()} == {("x", 1), ("y", 1)}
    assert h.state.status == "RUNNING"  # x still runs until its worker reports
    h.fail("x", error="killed by SIGTERM")
    assert h.job("x").status == "CANCELLED"
    assert h.state.status == "CANCELLED"
    assert h.types()[-1] == "ExecutionCancelled"


def test_cancel_while_running_job_succeeds_keeps_its_success():
    h = Harness("nodes: [{name: a, type: noop}]")
    h.submit()
    h.start("a")
    h.feed(ev.CancelRequested("bob"), producer="api")
    h.succeed("a")
    assert h.job("a").status == "SUCCEEDED"
    assert h.state.status == "CANCELLED"


def test_cancel_of_a_finished_execution_changes_nothing():
    h = Harness("nodes: [{name: a, type: noop}]")
    h.submit()
    h.run("a")
    assert not h.feed(ev.CancelRequested("bob"), producer="api").changed


def test_a_worker_starting_a_cancelled_attempt_is_killed():
    h = Harness("nodes: [{name: a, type: noop}, {name: b, type: noop}]")
    h.submit()
    h.start("a")
    h.feed(ev.CancelRequested("bob"), producer="api")
    late = h.start("b")  # b was cancelled while DISPATCHED: its late start changes nothing and is killed
    assert not late.changed and late.commands == [KillJob(h.execution_id, "b", 1, "this attempt is no longer wanted",
                                                          "w1")]
    assert h.job("b").status == "CANCELLED"


def test_events_for_an_unknown_execution_change_nothing():
    h = Harness(DIAMOND)
    step = h.feed(ev.JobSucceeded("a", 1))
    assert not step.changed and h.state is None


def test_engine_event_ids_are_deterministic():
    first, second = Harness(DIAMOND), Harness(DIAMOND)
    for h in (first, second):
        h.submit()
        h.run("a")
    assert [e.event_id for e in first.log] == [e.event_id for e in second.log]
    assert all(e.causation_id for e in first.log if e.producer == "engine")


def test_the_first_start_claims_the_attempt_and_another_workers_copy_is_fenced():
    h = Harness("nodes: [{name: a, type: command, config: {command: 'true'}}]")
    h.submit()
    assert h.feed(ev.JobStarted("a", 1, "w1")).changed
    # the dispatch delivered again after a rebalance: a second worker starts the same attempt
    second = h.feed(ev.JobStarted("a", 1, "w2"))
    assert not second.changed
    assert second.commands == [KillJob(h.execution_id, "a", 1, "attempt 1 is claimed by worker w1", "w2")]
    assert h.job("a").worker_id == "w1"
    # the second copy's result (a frozen-then-resumed worker's failure) changes nothing
    assert not h.feed(ev.JobFailed("a", 1, 1, "the copy failed", worker_id="w2")).changed
    assert h.job("a").status.value == "RUNNING"
    # the claim's own result decides
    assert h.feed(ev.JobSucceeded("a", 1, 0, {}, worker_id="w1")).changed
    assert h.state is not None and h.state.status.value == "SUCCEEDED"


def test_a_result_without_a_worker_id_is_fenced_by_the_attempt_alone():
    h = Harness("nodes: [{name: a, type: command, config: {command: 'true'}}]")
    h.submit()
    h.feed(ev.JobStarted("a", 1, "w1"))
    assert h.feed(ev.JobSucceeded("a", 1, 0, {})).changed  # a v1 producer: no worker id to compare


@pytest.mark.parametrize("policy", ["finish_current", "cancel_all", "finish_all_possible"])
@pytest.mark.parametrize("macro", ["all_failed", "one_failed", "all_done", "one_success"])
def test_a_conditional_child_runs_after_its_parent_failed_whatever_the_failure_policy(policy: str, macro: str):
    # Azkaban FlowRunner.setFlowFailed: when every child of the failed job has a status condition other than
    # all_success, the flow is not failed and nothing is cancelled or killed, under any failure action
    parents = "[ok, bad]" if macro == "one_success" else "[bad]"  # one_success needs a parent that succeeded
    h = Harness(f"""
failure_policy: {policy}
nodes:
  - {{name: ok, type: noop}}
  - {{name: bad, type: noop}}
  - {{name: slow, type: noop}}
  - {{name: handler, type: noop, dependsOn: {parents}, condition: {macro}}}
""")
    h.submit()
    h.start("slow")
    h.run("ok")
    h.run("bad", ok=False)
    assert h.job("handler").status == "DISPATCHED", h.statuses()
    assert h.job("slow").status == "RUNNING"  # nothing was killed either
    h.run("handler")
    h.succeed("slow")
    assert h.state.status == "SUCCEEDED"


@pytest.mark.parametrize("policy", ["finish_current", "cancel_all"])
def test_an_unhandled_failure_still_stops_the_flow_before_a_conditional_child(policy: str):
    # the failed job also has an all_success child: Azkaban's setFlowFailed fails the flow, and the
    # not-yet-started handler is cancelled (FINISH_CURRENTLY_RUNNING) or killed with the rest (CANCEL_ALL)
    h = Harness(f"""
failure_policy: {policy}
nodes:
  - {{name: bad, type: noop}}
  - {{name: next, type: noop, dependsOn: [bad]}}
  - {{name: handler, type: noop, dependsOn: [bad], condition: one_failed}}
""")
    h.submit()
    h.run("bad", ok=False)
    assert h.statuses() == {"bad": "FAILED", "next": "CANCELLED", "handler": "CANCELLED"}
    assert h.state.status == "FAILED"
