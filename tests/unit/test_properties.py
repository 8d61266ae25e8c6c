"""Properties over random DAGs and random worker behaviour (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain import events as ev
from engine.domain.commands import DispatchJob
from engine.domain.evolve import evolve, fold
from engine.domain.spec import FailurePolicy, FlowSpec, JobSpec, RetryPolicy
from engine.domain.state import JobStatus
from tests.support.harness import Harness

MACROS = [None, "all_success", "all_done", "all_failed", "one_success", "one_failed"]
OUTCOMES = ["succeed", "fail", "vanish", "hang", "stale", "duplicate", "start_only"]


@st.composite
def flows(draw: st.DrawFn) -> FlowSpec:
    size = draw(st.integers(1, 8))
    jobs = []
    for index in range(size):
        parents = draw(st.lists(st.integers(0, index - 1), unique=True, max_size=3)) if index else []
        jobs.append(JobSpec(
            name=f"j{index}",
            type="noop",
            depends_on=tuple(f"j{p}" for p in parents),
            condition=draw(st.sampled_from(MACROS)) if parents else None,
            retry=RetryPolicy(max_attempts=draw(st.integers(1, 3)), backoff_base_ms=draw(st.sampled_from([0, 500])),
                              backoff_max_ms=1000, max_lost=draw(st.integers(0, 2))),
            timeout_ms=draw(st.sampled_from([None, 5_000])),
            lease_ms=3_000,
        ))
    return FlowSpec(name="random", jobs=tuple(jobs), failure_policy=draw(st.sampled_from(list(FailurePolicy))))


def drive(h: Harness, data: st.DataObject, cancel_at: int | None, outcomes: list[str]) -> None:
    """Play a worker pool against the engine until nothing is left to do (bounded)."""
    handled: set[tuple[str, int]] = set()
    for step in range(200):
        if cancel_at is not None and step == cancel_at:
            h.feed(ev.CancelRequested("tester"), producer="api")
        open_work = [c for c in h.dispatched() if (c.job, c.attempt) not in handled]
        if not open_work:
            if h.state.terminal:
                return
            h.advance(6_000)  # let retries, timeouts and leases fire
            continue
        command: DispatchJob = data.draw(st.sampled_from(open_work))
        handled.add((command.job, command.attempt))
        outcome = data.draw(st.sampled_from(outcomes))
        job, attempt = command.job, command.attempt
        if outcome == "vanish":
            continue  # dispatched, never started: stays DISPATCHED until cancelled (handled below)
        h.feed(ev.JobStarted(job, attempt, "w1"))
        if outcome == "hang":
            continue  # the lease or the timeout will end it
        if outcome == "start_only":
            h.advance(4_000)
            continue
        if outcome == "stale" and attempt > 1:
            h.feed(ev.JobSucceeded(job, attempt - 1))
        if outcome == "duplicate":
            h.feed_event(h.log[data.draw(st.integers(0, len(h.log) - 1))])
        if outcome == "fail":
            h.feed(ev.JobFailed(job, attempt, 1, "boom"))
        else:
            h.feed(ev.JobSucceeded(job, attempt, 0, {}))
    raise AssertionError("the execution did not settle within 200 steps")


def run_random(spec: FlowSpec, data: st.DataObject, answering: bool = False) -> Harness:
    """Run a random execution. ``answering``: every dispatch is taken by a worker (none vanishes)."""
    h = Harness(spec)
    h.submit()
    cancel_at = data.draw(st.one_of(st.none(), st.integers(0, 20)))
    if answering:
        drive(h, data, cancel_at, [o for o in OUTCOMES if o != "vanish"])
        return h
    try:
        drive(h, data, cancel_at, OUTCOMES)
    except AssertionError:
        # a dispatch nobody takes stays DISPATCHED, as a queue without workers would; cancel is the way out
        h.feed(ev.CancelRequested("rescuer"), producer="api")
        h.advance(6_000)
        for command in h.dispatched():
            if h.job(command.job).status is JobStatus.RUNNING and h.attempt(command.job) == command.attempt:
                h.feed(ev.JobFailed(command.job, command.attempt, None, "killed"))
    return h


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(flows(), st.data())
def test_fold_of_the_log_equals_the_processed_state(spec, data):
    h = run_random(spec, data)
    assert fold(h.log) == h.state


@SETTINGS
@given(flows(), st.data())
def test_applying_any_event_twice_changes_nothing(spec, data):
    h = run_random(spec, data)
    state = None
    for event in h.log:
        state = evolve(state, event)
        assert evolve(state, event) is state
    for event in h.log:
        assert evolve(h.state, event) is h.state


@SETTINGS
@given(flows(), st.data())
def test_stale_attempt_reports_change_nothing(spec, data):
    h = run_random(spec, data)
    for name, job in h.state.jobs.items():
        for attempt in range(0, job.attempt):
            for payload in (ev.JobSucceeded(name, attempt), ev.JobFailed(name, attempt, 1, "late")):
                step = h.feed(payload)
                assert not step.changed and not step.events and not step.commands
            started = h.feed(ev.JobStarted(name, attempt, "late"))  # changes nothing; the attempt is killed
            assert not started.changed and not started.events
            assert [(k.job, k.attempt) for k in started.commands] == [(name, attempt)]


@SETTINGS
@given(flows(), st.data())
def test_every_execution_reaches_a_terminal_state_when_workers_keep_answering(spec, data):
    h = run_random(spec, data, answering=True)
    assert h.state.terminal
    assert all(job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED)
               for job in h.state.jobs.values())
    terminal_events = [e for e in h.log if e.type.startswith("Execution") and e.type != "ExecutionSubmitted"]
    assert len(terminal_events) == 1


@SETTINGS
@given(flows(), st.data())
def test_each_attempt_has_at_most_one_result(spec, data):
    h = run_random(spec, data)
    results: dict[tuple[str, int], int] = {}
    for event in h.log:
        if isinstance(event.payload, ev.JobSucceeded | ev.JobFailed | ev.JobTimedOut | ev.JobLost):
            key = (event.payload.job, event.payload.attempt)
            results[key] = results.get(key, 0) + 1
    assert all(count == 1 for count in results.values()), results
