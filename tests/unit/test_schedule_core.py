"""The schedule core: fold equals live state, duplicates change nothing, every event has an applier, and the
catch-up and overlap decisions, run on a simulated clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.domain import events as ev
from engine.domain.commands import ReportRunEnded
from engine.domain.ids import execution_id_for_key
from engine.domain.loader import load_flow
from engine.domain.process import process as process_execution
from engine.domain.schedule import events as se
from engine.domain.schedule.commands import StopExecution
from engine.domain.schedule.evolve import APPLIERS, MissingApplier, evolve, fold
from engine.domain.schedule.matching import matches
from engine.domain.schedule.process import next_due, tick_event
from engine.domain.schedule.react import REACTORS
from engine.domain.schedule.spec import ScheduleSpec, spec_problems
from engine.domain.triggers import TriggerDependency
from tests.support.schedules import MIN, T0, Sim, at_minute

DEP = TriggerDependency("landed", "kafka", {"topic": "events", "match": "landed"})


def every_minute(**changes: object) -> ScheduleSpec:
    return replace(ScheduleSpec(flow="etl", cadence="* * * * *", params={"day": "today"}), **changes)


def test_a_schedule_fires_once_per_tick_with_the_tick_in_the_execution_id() -> None:
    sim = Sim(every_minute(overlap="allow_all"))
    sim.run_until(at_minute(5))
    fired = sim.of(se.ScheduleFired)
    assert [f.logical_time for f in fired] == [at_minute(n) for n in range(1, 6)]
    assert {f.cause for f in fired} == {"schedule"}
    for f in fired:
        assert f.execution_id == execution_id_for_key("etl", f"schedule/nightly/tick/{f.logical_time}")
    assert [c.execution_id for c in sim.started()] == [f.execution_id for f in fired]
    assert sim.started()[0].params == {"day": "today"}


def test_fold_equals_live_state_and_every_event_applied_twice_changes_nothing() -> None:
    sim = Sim(every_minute(overlap="buffer_one"))
    sim.run_until(at_minute(1))
    sim.run_until(at_minute(3))  # a run is going: the second tick waits, the third is skipped
    sim.end(sim.state.running[0].execution_id, at_minute(3) + 1)
    sim.put(se.SchedulePaused("ops", "maintenance"), at_minute(3) + 2)
    sim.put(se.ScheduleUpdated(every_minute(overlap="allow_all", params={"day": "later"}), "ops"), at_minute(4))
    sim.put(se.ScheduleResumed("ops"), at_minute(6) + 5)
    sim.put(se.ScheduleTriggered("ops"), at_minute(6) + 6)
    sim.put(se.ScheduleBackfillRequested("b1", at_minute(-10), at_minute(-8), "allow_all", 0, "ops"), at_minute(6) + 7)
    sim.run_until(at_minute(8))
    waiting = every_minute(overlap="allow_all", dependencies=(DEP,), max_wait_ms=MIN)
    sim.put(se.ScheduleUpdated(waiting, "ops"), at_minute(8) + 1)
    sim.run_until(at_minute(9) + 1)
    sim.met(at_minute(9), "landed", 7, at_minute(9) + 2)
    sim.run_until(at_minute(10) + MIN + 1)  # the tick of minute 10 waits in vain
    sim.put(se.ScheduleDeleted("ops"), at_minute(12) + 1)
    assert {type(e.payload) for e in sim.log} == set(APPLIERS)  # the scenario holds every kind of event
    assert fold(sim.log) == sim.state
    state = sim.state
    for event in sim.log:
        assert evolve(state, event) is state, event
    again = fold(sim.log + sim.log)
    assert again == sim.state


def test_every_event_type_has_an_applier_and_a_reactor() -> None:
    assert set(APPLIERS) == set(se.PAYLOAD_TYPES.values()) == set(REACTORS)

    class Unknown:
        pass

    with pytest.raises(MissingApplier):
        evolve(None, se.ScheduleEvent("x", "s", 0, "api", Unknown()))  # type: ignore[arg-type]


def test_a_tick_decided_twice_starts_one_execution() -> None:
    sim = Sim(every_minute())
    due = next_due(sim.state)
    assert due is not None
    tick = tick_event(sim.state, due[0], due[1])
    assert tick is not None
    sim.read(tick)
    sim.read(tick)  # a second processor instance, or the same tick written again after a crash
    assert len(sim.of(se.ScheduleFired)) == 1 and len(sim.started()) == 1
    assert tick_event(sim.state, due[0], due[1] + 5) is None  # and it is not armed again


# -- overlap -----------------------------------------------------------------------------------------------------

def test_overlap_skip_skips_the_tick_while_a_run_goes_on() -> None:
    sim = Sim(every_minute())
    sim.run_until(at_minute(2))
    first = sim.of(se.ScheduleFired)[0]
    assert [s.reason for s in sim.of(se.ScheduleSkipped)] == [f"overlap skip: {first.execution_id} still running"]
    sim.end(first.execution_id, at_minute(2) + 10)
    sim.run_until(at_minute(3))
    assert len(sim.of(se.ScheduleFired)) == 2


@pytest.mark.parametrize(("policy", "waiting"), [("buffer_one", 1), ("buffer_all", 3)])
def test_buffered_ticks_start_one_after_another_as_runs_end(policy: str, waiting: int) -> None:
    sim = Sim(every_minute(overlap=policy))
    sim.run_until(at_minute(4))
    assert len(sim.of(se.ScheduleFired)) == 1
    assert len(sim.state.buffered) == waiting
    for n in range(waiting):
        sim.end(sim.state.running[0].execution_id, at_minute(4) + n + 1)
        assert len(sim.state.running) == 1
    fired = sim.of(se.ScheduleFired)
    assert [f.cause for f in fired] == ["schedule"] + ["buffered"] * waiting
    assert [f.logical_time for f in fired] == [at_minute(n) for n in range(1, 2 + waiting)]


def test_cancel_other_stops_the_running_one_and_starts_when_it_has_ended() -> None:
    sim = Sim(every_minute(overlap="cancel_other"))
    sim.run_until(at_minute(2))
    first = sim.of(se.ScheduleFired)[0]
    stops = [c for c in sim.commands if isinstance(c, StopExecution)]
    assert [s.execution_id for s in stops] == [first.execution_id] and len(sim.of(se.ScheduleFired)) == 1
    sim.end(first.execution_id, at_minute(2) + 3, "CANCELLED")
    assert [f.logical_time for f in sim.of(se.ScheduleFired)] == [at_minute(1), at_minute(2)]


def test_terminate_other_stops_the_running_one_and_starts_at_once() -> None:
    sim = Sim(every_minute(overlap="terminate_other"))
    sim.run_until(at_minute(2))
    assert len(sim.of(se.ScheduleFired)) == 2 and len(sim.state.running) == 2
    assert [c.execution_id for c in sim.commands if isinstance(c, StopExecution)] == \
        [sim.of(se.ScheduleFired)[0].execution_id]


def test_allow_all_runs_alongside() -> None:
    sim = Sim(every_minute(overlap="allow_all"))
    sim.run_until(at_minute(3))
    assert len(sim.state.running) == 3 and sim.of(se.ScheduleSkipped) == []


# -- catch-up ----------------------------------------------------------------------------------------------------

def down_then_back(spec: ScheduleSpec, back_at: int) -> Sim:
    """The processor was away from minute 1 to ``back_at``: ticks are first written when it is back."""
    sim = Sim(spec)
    due = next_due(sim.state)
    while due is not None and due[1] <= back_at:
        event = tick_event(sim.state, due[0], back_at)
        assert event is not None
        sim.read(event)
        if sim.state.running:
            sim.end(sim.state.running[0].execution_id, back_at)
        due = next_due(sim.state)
    return sim


def test_catchup_latest_fires_the_latest_missed_tick_and_skips_the_rest_in_one_event() -> None:
    sim = down_then_back(every_minute(catchup="latest"), at_minute(10) + 5_000)
    assert [(s.logical_time, s.through) for s in sim.of(se.ScheduleSkipped)] == [(at_minute(1), at_minute(9))]
    assert [(f.logical_time, f.cause) for f in sim.of(se.ScheduleFired)] == [(at_minute(10), "schedule")]


def test_catchup_all_fires_every_missed_tick_within_the_window() -> None:
    sim = down_then_back(every_minute(catchup="all", catchup_window_ms=5 * MIN), at_minute(10) + 5_000)
    skipped = sim.of(se.ScheduleSkipped)
    assert [(s.logical_time, s.through, s.reason) for s in skipped] == [
        (at_minute(1), at_minute(5), "missed: older than the catch-up window")]
    fired = sim.of(se.ScheduleFired)
    assert [f.logical_time for f in fired] == [at_minute(n) for n in range(6, 11)]
    assert [f.cause for f in fired] == ["catchup"] * 4 + ["schedule"]


def test_catchup_none_fires_nothing_that_was_missed() -> None:
    sim = down_then_back(every_minute(catchup="none"), at_minute(10) + 5_000)
    # the latest tick is read 5 s late, which is on time; the nine before it were missed
    assert [f.logical_time for f in sim.of(se.ScheduleFired)] == [at_minute(10)]
    assert [(s.logical_time, s.through) for s in sim.of(se.ScheduleSkipped)] == [(at_minute(1), at_minute(9))]
    sim = down_then_back(every_minute(catchup="none", cadence="*/5 * * * *"), at_minute(13))
    assert sim.of(se.ScheduleFired) == []
    assert [(s.logical_time, s.through) for s in sim.of(se.ScheduleSkipped)] == [(at_minute(5), at_minute(10))]


def test_a_late_single_tick_outside_the_window_is_skipped() -> None:
    sim = down_then_back(every_minute(cadence="0 0 * * *", catchup="latest", catchup_window_ms=MIN),
                         at_minute(15 * 60 + 30))  # the midnight tick, read 15.5 hours late
    assert sim.of(se.ScheduleFired) == []
    assert [s.reason for s in sim.of(se.ScheduleSkipped)] == ["missed: older than the catch-up window"]


# -- control -----------------------------------------------------------------------------------------------------

def test_pause_resume_and_delete() -> None:
    sim = Sim(every_minute(overlap="allow_all"))
    sim.run_until(at_minute(1))
    sim.put(se.SchedulePaused("ops"), at_minute(1) + 1)
    assert next_due(sim.state) is None
    sim.run_until(at_minute(5))
    sim.put(se.ScheduleResumed("ops"), at_minute(5) + 10_000)
    assert [(s.logical_time, s.through, s.reason) for s in sim.of(se.ScheduleSkipped)] == [
        (at_minute(2), at_minute(5), "paused")]
    sim.run_until(at_minute(6))
    assert [f.logical_time for f in sim.of(se.ScheduleFired)] == [at_minute(1), at_minute(6)]
    sim.put(se.ScheduleDeleted("ops"), at_minute(6) + 1)
    assert next_due(sim.state) is None
    sim.run_until(at_minute(20))
    assert len(sim.of(se.ScheduleFired)) == 2


def test_a_manual_trigger_fires_now_under_its_own_key() -> None:
    sim = Sim(every_minute())
    sim.put(se.ScheduleTriggered("ops"), T0 + 5)
    fired = sim.of(se.ScheduleFired)
    assert [(f.logical_time, f.cause) for f in fired] == [(T0 + 5, "manual")]
    assert fired[0].execution_id == execution_id_for_key("etl", f"schedule/nightly/manual/{T0 + 5}")
    assert [c.idempotency_key for c in sim.started()] == [f"schedule/nightly/manual/{T0 + 5}"]


def test_start_and_end_bound_the_ticks() -> None:
    sim = Sim(every_minute(overlap="allow_all", start_at=at_minute(3), end_at=at_minute(5)))
    sim.run_until(at_minute(30))
    assert [f.logical_time for f in sim.of(se.ScheduleFired)] == [at_minute(3), at_minute(4), at_minute(5)]
    assert next_due(sim.state) is None


def test_an_interval_counts_from_the_start() -> None:
    sim = Sim(every_minute(cadence="every 90s", overlap="allow_all", start_at=T0 + 1000))
    sim.run_until(T0 + 1000 + 3 * 90_000)
    assert [f.logical_time - T0 - 1000 for f in sim.of(se.ScheduleFired)] == [0, 90_000, 180_000, 270_000]


def test_jitter_delays_each_tick_by_its_own_fixed_amount_and_keeps_its_logical_time() -> None:
    sim = Sim(every_minute(overlap="allow_all", jitter_ms=20_000))
    delays = set()
    for n in range(1, 6):
        due = next_due(sim.state)
        assert due is not None and due[0] == at_minute(n)
        delays.add(due[1] - due[0])
        assert 0 <= due[1] - due[0] < 20_000
        sim.run_until(due[1])
    assert len(delays) > 1


@pytest.mark.parametrize(("changes", "says"), [
    ({"cadence": "61 * * * *"}, "cron:"),
    ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
    ({"overlap": "sometimes"}, "overlap: 'sometimes' is not one of"),
    ({"catchup": "maybe"}, "catchup: 'maybe' is not one of"),
    ({"start_at": 10, "end_at": 5}, "end: must be after start"),
    ({"jitter_ms": -1}, "jitter:"),
])
def test_a_bad_spec_says_what_is_wrong(changes: dict, says: str) -> None:
    assert any(says in p for p in spec_problems(every_minute(**changes)))
    assert spec_problems(every_minute()) == []


# -- the way back: an execution a schedule started reports its end ------------------------------------------------

def test_an_execution_started_by_a_schedule_reports_its_end_to_the_schedule() -> None:
    spec = load_flow("name: etl\nnodes:\n  - name: a\n    type: noop\n")

    def run(schedule_id: str | None, params: dict[str, str]) -> list:
        submitted = ev.Event("e1", "x1", T0, "scheduler", ev.ExecutionSubmitted(
            "etl", spec.version_hash(), spec, params=params, schedule_id=schedule_id,
            logical_time=T0 if schedule_id else None))
        step = process_execution(None, submitted, T0)
        commands = list(step.commands)
        started = process_execution(step.state, ev.Event("e2", "x1", T0, "worker", ev.JobStarted("a", 1, "w")), T0)
        done = process_execution(started.state, ev.Event("e3", "x1", T0, "worker",
                                                         ev.JobSucceeded("a", 1, worker_id="w")), T0)
        return commands + started.commands + done.commands

    assert [c for c in run("nightly", {}) if isinstance(c, ReportRunEnded)] == [
        ReportRunEnded("nightly", "x1", T0, "SUCCEEDED")]
    assert [c for c in run(None, {}) if isinstance(c, ReportRunEnded)] == []
    rejected = [c for c in run("nightly", {"command": "x"}) if isinstance(c, ReportRunEnded)]
    assert [(c.status, "command" in (c.detail or "")) for c in rejected] == [("REJECTED", True)]


# -- backfill -----------------------------------------------------------------------------------------------------

def test_a_backfill_starts_every_tick_of_its_range_under_keys_of_its_own_and_ends() -> None:
    sim = Sim(every_minute(overlap="allow_all"), created_at=at_minute(0))
    sim.put(se.ScheduleBackfillRequested("b1", at_minute(-30), at_minute(-26) + 5, "allow_all", 0, "ops"),
            at_minute(0) + 1)
    sim.run_until(at_minute(0) + 2)
    fired = [f for f in sim.of(se.ScheduleFired) if f.cause == "backfill"]
    assert [f.logical_time for f in fired] == [at_minute(n) for n in range(-30, -25)]
    assert [c.idempotency_key for c in sim.started()] == [f"schedule/nightly/backfill/{at_minute(n)}"
                                                          for n in range(-30, -25)]
    assert sim.of(se.ScheduleBackfillEnded) == [se.ScheduleBackfillEnded("b1", "done")]
    assert sim.state.backfills == ()
    assert fold(sim.log) == sim.state


def test_a_backfill_keeps_its_pace_and_waits_for_each_run() -> None:
    sim = Sim(every_minute(), created_at=at_minute(0))
    sim.put(se.ScheduleBackfillRequested("paced", at_minute(-10), at_minute(-7), "wait", 2, "ops"), at_minute(0))
    sim.run_until(at_minute(0) + 100)
    assert len(sim.of(se.ScheduleFired)) == 1  # the first run has not ended: the backfill waits
    sim.end(sim.state.running[0].execution_id, at_minute(0) + 200)
    sim.run_until(at_minute(0) + 29_999)
    assert len(sim.of(se.ScheduleFired)) == 1
    sim.run_until(at_minute(0) + 30_000)
    # two a minute: the second tick is written 30 s after the first
    ticks = [e for e in sim.log if isinstance(e.payload, se.ScheduleBackfillTick)]
    assert [t.occurred_at - ticks[0].occurred_at for t in ticks] == [0, 30_000]


def test_a_backfill_with_overlap_skip_skips_while_a_run_goes_on() -> None:
    sim = Sim(every_minute(overlap="allow_all"), created_at=at_minute(0))
    sim.put(se.ScheduleTriggered("ops"), at_minute(0))
    sim.put(se.ScheduleBackfillRequested("b", at_minute(-3), at_minute(-2), "skip", 0, "ops"), at_minute(0) + 1)
    sim.run_until(at_minute(0) + 2)
    assert [s.reason.startswith("backfill b: overlap skip") for s in sim.of(se.ScheduleSkipped)] == [True, True]
    assert sim.of(se.ScheduleBackfillEnded) == [se.ScheduleBackfillEnded("b", "done")]


def test_a_backfill_of_a_range_without_ticks_ends_at_once() -> None:
    sim = Sim(every_minute(cadence="0 3 * * *"), created_at=at_minute(0))
    sim.put(se.ScheduleBackfillRequested("empty", at_minute(-50), at_minute(-40), "wait", 0, "ops"), at_minute(0))
    assert sim.of(se.ScheduleBackfillEnded) == [se.ScheduleBackfillEnded("empty", "no tick in the range")]


# -- event triggers -------------------------------------------------------------------------------------------------

def test_a_tick_with_dependencies_waits_for_them_and_fires_with_the_records_that_met_them() -> None:
    two = (DEP, TriggerDependency("approved", "kafka", {"topic": "ops", "field": "state", "value": "ok"}))
    sim = Sim(every_minute(dependencies=two, max_wait_ms=5 * MIN))
    sim.run_until(at_minute(1))
    assert sim.of(se.ScheduleWaiting) == [se.ScheduleWaiting(at_minute(1), at_minute(6))]
    sim.met(at_minute(1), "landed", 41, at_minute(1) + 10)
    sim.met(at_minute(1), "landed", 42, at_minute(1) + 11)  # a second record for it changes nothing
    assert sim.of(se.ScheduleFired) == []
    sim.met(at_minute(1), "approved", 9, at_minute(1) + 20)
    fired = sim.of(se.ScheduleFired)
    assert [(f.logical_time, f.cause) for f in fired] == [(at_minute(1), "trigger")]
    assert fired[0].dependencies == (se.DependencyMatch("landed", "events", 0, 41),
                                     se.DependencyMatch("approved", "events", 0, 9))
    sim.run_until(at_minute(2))
    assert [w.logical_time for w in sim.state.waiting] == [at_minute(2)]  # the next tick waits on its own


def test_a_tick_whose_dependencies_do_not_come_in_time_starts_nothing() -> None:
    sim = Sim(every_minute(cadence="0 * * * *", dependencies=(DEP,), max_wait_ms=10 * MIN))
    sim.run_until(at_minute(60) + 10 * MIN)
    assert sim.of(se.ScheduleFired) == []
    assert [s.reason for s in sim.of(se.ScheduleSkipped)] == ["dependencies not met within 10 min: landed"]
    sim.met(at_minute(60), "landed", 1, at_minute(71))  # too late: nothing
    assert sim.of(se.ScheduleFired) == [] and sim.state.waiting == ()


def test_dependency_matching_as_azkaban_and_on_fields() -> None:
    regex = TriggerDependency("d", "kafka", {"topic": "t", "match": "hadoop?.*"})
    assert matches(regex, '{"event": "hadoo-done"}') and not matches(regex, "spark")  # find, not a whole match
    field = TriggerDependency("d", "kafka", {"topic": "t", "field": "table.name", "value": "sales"})
    assert matches(field, '{"table": {"name": "sales"}}')
    assert not matches(field, '{"table": {"name": "sales_eu"}}') and not matches(field, "sales")
    assert matches(field, "not json", {"table": {"name": "sales"}})  # an Avro value, decoded by the edge
    number = TriggerDependency("d", "kafka", {"topic": "t", "field": "rows", "match": "^[1-9]"})
    assert matches(number, '{"rows": 120}') and not matches(number, '{"rows": 0}')


@pytest.mark.parametrize(("dependency", "says"), [
    (TriggerDependency("d", "hdfs", {"topic": "t"}), "type 'hdfs' is not supported"),
    (TriggerDependency("d", "kafka", {"match": "x"}), "params.topic is required"),
    (TriggerDependency("d", "kafka", {"topic": "t", "match": "("}), "not a regular expression"),
    (TriggerDependency("d", "kafka", {"topic": "t", "value": "x"}), "needs params.field"),
    (TriggerDependency("d", "kafka", {"topic": "t", "match": "x", "group": "g"}), "unknown params group"),
])
def test_bad_dependencies_say_what_is_wrong(dependency: TriggerDependency, says: str) -> None:
    assert any(says in p for p in spec_problems(every_minute(dependencies=(dependency,), max_wait_ms=MIN)))
    assert any("max_wait" in p for p in spec_problems(every_minute(dependencies=(DEP,))))


@pytest.mark.parametrize(("pattern", "value", "found"), [
    (r"^(\d{3}-?\d{2}-?\d{4})$", "123-45-6789", True),
    (r"^(\d{3}-?\d{2}-?\d{4})$", "x123-45-6789", False),
    ("hadoop.*", "a hadoop job ended", True),  # find(): anywhere in the value
    (r"^\w*", "", True),
    (".*", "anything", True),
])
def test_the_patterns_of_azkabans_kafka_trigger_tests_are_accepted_and_searched(pattern: str, value: str,
                                                                                found: bool) -> None:
    # the dependencies of KafkaEventMonitorTest.testConsumerSubscriptionRebalance, matched as
    # RegexKafkaDependencyMatcher.isMatch does (Pattern.matcher(payload).find())
    dependency = TriggerDependency("dep", "kafka", {"topic": "AzTest_Topic1", "match": pattern})
    assert spec_problems(every_minute(dependencies=(dependency,), max_wait_ms=MIN)) == []
    assert matches(dependency, value) is found
