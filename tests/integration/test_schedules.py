"""Schedules on the real broker and PostgreSQL: one execution per tick and never two, overlap, pause, resume and
delete, catch-up after the engine was killed, and the API's and CLI's answers to bad input."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import signal
import time
from typing import Any

import pytest
from confluent_kafka import Producer

from engine.client import ApiFailure
from engine.domain.ids import execution_id_for_key
from engine.kafka import ensure_topics, producer_config
from tests.integration.stack import ROOT, Stack
from tests.integration.test_api_cli import cli, error_of
from tests.support.waiting import wait_until

QUICK = """
name: tick
params: {note: default}
nodes:
  - name: a
    type: noop
"""

SLOW = """
name: slow-tick
nodes:
  - name: wait
    type: command
    config: {command: "sleep 2.5"}
"""


@pytest.fixture(scope="module", autouse=True)
def flows(stack: Stack) -> None:
    stack.register(QUICK)
    stack.register(SLOW)


def ms(iso: str) -> int:
    return round(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def executions_of(stack: Stack, schedule_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = stack.api("GET", f"/api/v1/executions?schedule={schedule_id}&limit=500"
                         + (f"&cursor={cursor}" if cursor else ""))
        found += page["executions"]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def schedule(stack: Stack, schedule_id: str) -> dict[str, Any]:
    return stack.api("GET", f"/api/v1/schedules/{schedule_id}?fires=1000")


def settled(stack: Stack, schedule_id: str) -> dict[str, Any]:
    """The schedule once every execution it started has ended and the views know it."""
    def done() -> dict[str, Any] | None:
        s = schedule(stack, schedule_id)
        runs = executions_of(stack, schedule_id)
        if s["running"] or any(r["status"] not in ("SUCCEEDED", "FAILED", "CANCELLED", "REJECTED") for r in runs):
            return None
        return s
    return wait_until(done, 60, f"schedule {schedule_id} settled")


def ticks_accounted_for(s: dict[str, Any], first: int, last: int) -> None:
    """Every second from ``first`` to ``last`` is decided exactly once: fired, or inside one skipped range."""
    covered: list[int] = []
    for fire in s["fires"]:
        start, through = ms(fire["logical_time"]), ms(fire["through"])
        if fire["outcome"] == "BUFFERED":
            continue
        covered += list(range(start, through + 1, 1000))
    inside = sorted(t for t in covered if first <= t <= last)
    assert inside == list(range(first, last + 1, 1000)), (first, last, s["fires"])


def test_a_schedule_every_second_starts_one_execution_per_tick_and_never_two(stack: Stack) -> None:
    created = stack.api("POST", "/api/v1/schedules", {"schedule_id": "every-second", "flow": "tick",
                                                      "cron": "* * * * * ?", "overlap": "allow_all",
                                                      "params": {"note": "from a schedule"}})
    assert len(created["next_fires"]) == 5
    time.sleep(10)
    stack.api("DELETE", "/api/v1/schedules/every-second", {"by": "tests"})
    s = settled(stack, "every-second")
    runs = executions_of(stack, "every-second")
    fired = [f for f in s["fires"] if f["outcome"] == "FIRED"]
    assert 8 <= len(runs) <= 12, len(runs)
    # one execution per tick: the logical times are whole consecutive seconds, none twice
    times = sorted(ms(r["logical_time"]) for r in runs)
    assert len(set(times)) == len(times) and all(t % 1000 == 0 for t in times)
    assert times == list(range(times[0], times[-1] + 1000, 1000))
    assert {f["execution_id"] for f in fired} == {r["execution_id"] for r in runs}
    for run in runs:
        key = f"schedule/every-second/tick/{ms(run['logical_time'])}"
        assert run["execution_id"] == execution_id_for_key("tick", key)
        assert run["status"] == "SUCCEEDED"
    detail = stack.execution(runs[0]["execution_id"])
    assert detail is not None and detail["params"]["note"] == "from a schedule"
    assert ms(detail["params"]["kafkaban.logical_time"]) == ms(runs[0]["logical_time"])
    assert detail["params"]["kafkaban.schedule.id"] == "every-second"
    assert detail["schedule_id"] == "every-second"
    assert s["status"] == "DELETED" and s["next_fire_at"] is None
    # deleted: nothing more starts
    time.sleep(2)
    assert len(executions_of(stack, "every-second")) == len(runs)


def test_overlap_skip_never_runs_two_at_once_and_records_what_it_skipped(stack: Stack) -> None:
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "slow-skip", "flow": "slow-tick",
                                            "cron": "* * * * * ?"})
    time.sleep(7)
    stack.api("DELETE", "/api/v1/schedules/slow-skip")
    s = settled(stack, "slow-skip")
    runs = sorted(executions_of(stack, "slow-skip"), key=lambda r: r["started_at"])
    assert 2 <= len(runs) <= 4, runs
    for earlier, later in itertools.pairwise(runs):
        assert earlier["ended_at"] <= later["started_at"], (earlier, later)
    skipped = [f for f in s["fires"] if f["outcome"] == "SKIPPED"]
    assert skipped and all(f["reason"].startswith("overlap skip:") for f in skipped)


def test_overlap_buffer_one_runs_the_waiting_tick_after_the_running_one(stack: Stack) -> None:
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "slow-buffer", "flow": "slow-tick",
                                            "cron": "* * * * * ?", "overlap": "buffer_one"})
    time.sleep(4)
    stack.api("DELETE", "/api/v1/schedules/slow-buffer")
    # deleting drops the waiting tick; what started runs to its end
    s = settled(stack, "slow-buffer")
    causes = [f["cause"] for f in sorted(s["fires"], key=lambda f: f["logical_time"]) if f["outcome"] == "FIRED"]
    assert causes[0] == "schedule" and "buffered" in causes, s["fires"]
    runs = sorted(executions_of(stack, "slow-buffer"), key=lambda r: r["started_at"])
    for earlier, later in itertools.pairwise(runs):
        assert earlier["ended_at"] <= later["started_at"]


def test_pause_resume_and_trigger(stack: Stack) -> None:
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "pausing", "flow": "tick", "cron": "* * * * * ?",
                                            "overlap": "allow_all"})
    wait_until(lambda: executions_of(stack, "pausing"), 15, "a first execution")
    paused = cli(stack, "schedule", "pause", "pausing", "--note", "maintenance")
    assert paused.returncode == 0, paused.stderr
    wait_until(lambda: schedule(stack, "pausing")["status"] == "PAUSED", 10, "paused")
    time.sleep(1.5)  # a tick written just before the pause may still start
    before = len(executions_of(stack, "pausing"))
    time.sleep(3)
    assert len(executions_of(stack, "pausing")) == before
    assert cli(stack, "schedule", "resume", "pausing").returncode == 0
    wait_until(lambda: len(executions_of(stack, "pausing")) > before, 15, "ticks after the resume")
    s = schedule(stack, "pausing")
    assert any(f["outcome"] == "SKIPPED" and f["reason"] == "paused" for f in s["fires"]), s["fires"]
    triggered = cli(stack, "schedule", "trigger", "pausing", "--json")
    assert triggered.returncode == 0, triggered.stderr
    wait_until(lambda: any(f["cause"] == "manual" for f in schedule(stack, "pausing")["fires"]), 15, "manual fire")
    stack.api("DELETE", "/api/v1/schedules/pausing")
    shown = cli(stack, "schedule", "show", "pausing")
    assert shown.returncode == 0 and "DELETED" in shown.stdout, shown.stdout + shown.stderr


def test_bad_schedules_are_refused_with_the_reason_and_write_nothing(stack: Stack) -> None:
    def every_schedule() -> list[str]:
        return [s["schedule_id"] for s in stack.api("GET", "/api/v1/schedules?deleted=true")["schedules"]]

    before = every_schedule()
    bad = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"flow": "tick", "cron": "0 0 2 * * *"}))
    assert bad.status == 422 and "exactly one of day of month and day of week" in json.dumps(bad.details)
    zone = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"flow": "tick", "cron": "@daily",
                                                                   "timezone": "Mars/Olympus"}))
    assert zone.status == 422 and "unknown time zone" in json.dumps(zone.details)
    missing = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"flow": "no-such-flow", "cron": "@daily"}))
    assert missing.status == 404
    unknown = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"flow": "tick", "cron": "@daily",
                                                                      "every": "day"}))
    assert unknown.status == 422 and "unknown field 'every'" in json.dumps(unknown.details)
    hostile = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"schedule_id": "../etc", "flow": "tick",
                                                                      "cron": "@daily"}))
    assert hostile.status == 422
    assert every_schedule() == before  # nothing refused was written
    first = stack.api("POST", "/api/v1/schedules", {"schedule_id": "daily", "flow": "tick", "cron": "@daily"})
    assert first["projected"], first
    again = error_of(lambda: stack.api("POST", "/api/v1/schedules", {"schedule_id": "daily", "flow": "tick",
                                                                    "cron": "@hourly"}))
    assert again.status == 409
    assert stack.api("GET", "/api/v1/schedules/daily")["cron"] == "@daily"
    with pytest.raises(ApiFailure) as info:
        stack.api("POST", "/api/v1/schedules/nope/pause", {})
    assert info.value.status == 404
    preview = stack.api("GET", "/api/v1/schedules/preview?cron=0+30+2+*+*+%3F&timezone=Europe/Berlin"
                               "&from=2027-03-27&count=3")
    assert [f["local"] for f in preview["fires"]] == ["2027-03-27T02:30:00+01:00", "2027-03-28T03:00:00+02:00",
                                                      "2027-03-29T02:30:00+02:00"]
    listed = cli(stack, "schedule", "list", "--json")
    assert listed.returncode == 0 and "daily" in {s["schedule_id"] for s in json.loads(listed.stdout)["schedules"]}
    stack.api("DELETE", "/api/v1/schedules/daily")


def test_the_engine_killed_across_ticks_catches_up_with_no_tick_twice_and_none_lost(stack: Stack) -> None:
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "through-a-crash", "flow": "tick",
                                            "cron": "* * * * * ?", "overlap": "allow_all", "catchup": "latest"})
    first = wait_until(lambda: executions_of(stack, "through-a-crash"), 15, "a first execution")
    first_tick = min(ms(r["logical_time"]) for r in first)
    time.sleep(2)
    stack.processes["engine"].send_signal(signal.SIGKILL)
    stack.processes["engine"].wait()
    time.sleep(12)  # ticks come and go with no engine, for longer than a tick counts as on time
    stack.spawn("engine", "engine")
    restarted = time.time()
    wait_until(lambda: any(ms(r["logical_time"]) > restarted * 1000 + 2000
                           for r in executions_of(stack, "through-a-crash")), 60, "ticks after the restart")
    stack.api("DELETE", "/api/v1/schedules/through-a-crash")
    s = settled(stack, "through-a-crash")
    runs = executions_of(stack, "through-a-crash")
    times = [ms(r["logical_time"]) for r in runs]
    assert len(times) == len(set(times))  # no tick started twice
    last_tick = max(ms(f["through"]) for f in s["fires"])
    ticks_accounted_for(s, first_tick, last_tick)  # and none lost: each fired or skipped, with the reason
    caught_up = [f for f in s["fires"] if f["outcome"] == "SKIPPED"]
    assert caught_up and all(f["reason"].startswith("missed") for f in caught_up), s["fires"]


STAMP = """
name: stamp
nodes:
  - name: s
    type: command
    config:
      command: >-
        printf '{"start": "%s", "year": "%s"}' "${azkaban.flow.start.timestamp}" "${azkaban.flow.start.year}"
        > "$KAFKABAN_OUTPUT_FILE"
"""


def test_a_scheduled_job_sees_its_logical_time_as_azkaban_flow_start(stack: Stack) -> None:
    stack.register(STAMP)
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "stamped", "flow": "stamp", "cron": "every 2s",
                                            "jitter": "900ms"})
    run = wait_until(lambda: [r for r in executions_of(stack, "stamped") if r["status"] == "SUCCEEDED"], 30,
                     "a stamped run")[0]
    stack.api("DELETE", "/api/v1/schedules/stamped")
    detail = stack.execution(run["execution_id"])
    assert detail is not None
    outputs = Stack.job(detail, "s")["outputs"]
    assert ms(outputs["start"]) == ms(run["logical_time"])  # the tick's time, not when the jitter let it start
    assert outputs["year"] == run["logical_time"][:4]


def overlapping(runs: list[dict[str, Any]]) -> bool:
    ordered = sorted(runs, key=lambda r: r["started_at"] or "")
    return any(a["ended_at"] and b["started_at"] and a["ended_at"] > b["started_at"]
               for a, b in itertools.pairwise(ordered))


@pytest.mark.parametrize(("policy", "overlaps", "cancels"), [
    ("buffer_all", False, False),
    ("cancel_other", False, True),
    ("terminate_other", None, True),  # the new run starts while the old one is being killed
    ("allow_all", True, False),
])
def test_each_overlap_policy_with_a_slow_flow(stack: Stack, policy: str, overlaps: bool | None,
                                              cancels: bool) -> None:
    schedule_id = f"slow-{policy}"
    stack.api("POST", "/api/v1/schedules", {"schedule_id": schedule_id, "flow": "slow-tick", "cron": "* * * * * ?",
                                            "overlap": policy})
    wait_until(lambda: len([r for r in executions_of(stack, schedule_id) if r["started_at"]]) >= 2, 30,
               "two runs started")
    stack.api("DELETE", f"/api/v1/schedules/{schedule_id}")
    s = settled(stack, schedule_id)
    runs = [r for r in executions_of(stack, schedule_id) if r["started_at"]]
    times = [ms(r["logical_time"]) for r in executions_of(stack, schedule_id)]
    assert len(times) == len(set(times))
    if overlaps is not None:
        assert overlapping(runs) is overlaps, runs
    assert any(r["status"] == "CANCELLED" for r in runs) is cancels, runs
    fired = [f for f in s["fires"] if f["outcome"] == "FIRED"]
    if policy in ("buffer_all", "cancel_other"):
        assert any(f["cause"] == "buffered" for f in fired), s["fires"]


def test_two_engines_fire_each_tick_once(stack: Stack) -> None:
    second = stack.spawn("engine-2", "engine")  # the group shares the partitions out between the two
    try:
        stack.api("POST", "/api/v1/schedules", {"schedule_id": "two-engines", "flow": "tick", "cron": "* * * * * ?",
                                                "overlap": "allow_all"})
        first = wait_until(lambda: executions_of(stack, "two-engines"), 30, "a first execution")
        time.sleep(10)  # through the rebalance and after it
        stack.api("DELETE", "/api/v1/schedules/two-engines")
        s = settled(stack, "two-engines")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    times = [ms(r["logical_time"]) for r in executions_of(stack, "two-engines")]
    assert len(times) == len(set(times)) and len(times) >= 8
    ticks_accounted_for(s, min(ms(r["logical_time"]) for r in first), max(ms(f["through"]) for f in s["fires"]))


def test_a_backfill_runs_each_past_tick_once_one_after_another(stack: Stack) -> None:
    stack.api("POST", "/api/v1/schedules", {"schedule_id": "backfilled", "flow": "tick", "cron": "*/10 * * * *"})
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    start, end = now - dt.timedelta(minutes=50), now - dt.timedelta(minutes=1)
    bad = error_of(lambda: stack.api("POST", "/api/v1/schedules/backfilled/backfill",
                                     {"from": end.isoformat(), "to": start.isoformat()}))
    assert bad.status == 422 and "must not be before from" in json.dumps(bad.details)
    future = error_of(lambda: stack.api("POST", "/api/v1/schedules/backfilled/backfill",
                                        {"from": start.isoformat(), "to": (now + dt.timedelta(days=1)).isoformat()}))
    assert future.status == 422 and "must end by now" in json.dumps(future.details)
    assert schedule(stack, "backfilled")["backfills"] == []  # refused: nothing written
    done = cli(stack, "schedule", "backfill", "backfilled", "--from", start.isoformat(), "--to", end.isoformat(),
               "--id", "last-hour", "--json")
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)["ticks"]
    assert expected == 5
    again = error_of(lambda: stack.api("POST", "/api/v1/schedules/backfilled/backfill",
                                       {"from": start.isoformat(), "to": end.isoformat(), "backfill_id": "last-hour"}))
    assert again.status == 409

    def ended() -> dict[str, Any] | None:
        s = schedule(stack, "backfilled")
        return s if s["backfills"] and s["backfills"][0]["status"] == "ENDED" else None

    s = wait_until(ended, 60, "the backfill ended")
    assert s["backfills"][0]["reason"] == "done" and s["backfills"][0]["ticks"] == 5
    s = settled(stack, "backfilled")
    runs = sorted(executions_of(stack, "backfilled"), key=lambda r: r["logical_time"])
    assert len(runs) == 5 and all(r["status"] == "SUCCEEDED" for r in runs)
    assert len({r["logical_time"] for r in runs}) == 5
    for a, b in itertools.pairwise(sorted(runs, key=lambda r: r["started_at"])):
        assert a["ended_at"] <= b["started_at"]  # overlap "wait": one after another
    assert {f["cause"] for f in s["fires"] if f["outcome"] == "FIRED"} == {"backfill"}
    stack.api("DELETE", "/api/v1/schedules/backfilled")


def test_an_event_trigger_starts_a_run_on_another_services_record_and_records_which(stack: Stack) -> None:
    topic = stack.settings.topic("orders")  # another service's topic
    ensure_topics(stack.settings, [topic])
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    created = stack.api("POST", "/api/v1/schedules", {
        "schedule_id": "on-orders", "flow": "tick", "cron": "every 1h", "start": start.isoformat(),
        "max_wait": "2m", "dependencies": [
            {"name": "landed", "type": "kafka", "params": {"topic": topic, "match": "batch-[0-9]+ landed"}},
            {"name": "approved", "type": "kafka", "params": {"topic": topic, "field": "approval.state",
                                                               "value": "ok"}}]})
    assert created["projected"]
    wait_until(lambda: schedule(stack, "on-orders")["waiting"], 20, "the first tick waiting")
    producer = Producer(producer_config(stack.settings))
    delivered: list[Any] = []
    for value in (b"batch-7 pending", b'{"approval": {"state": "no"}}', b"batch-7 landed at 10:00",
                  b'{"approval": {"state": "ok"}, "by": "finance"}'):
        producer.produce(topic, key=b"orders", value=value, on_delivery=lambda err, msg: delivered.append(msg))
        producer.flush(10)
    fired = wait_until(lambda: [f for f in schedule(stack, "on-orders")["fires"] if f["outcome"] == "FIRED"], 30,
                       "the run the records started")
    assert fired[0]["cause"] == "trigger"
    events = stack.api("GET", "/api/v1/schedules/on-orders/events")["events"]
    record = next(e for e in events if e["type"] == "ScheduleFired")
    matched = {m["name"]: (m["topic"], m["partition"], m["offset"]) for m in record["payload"]["dependencies"]}
    assert matched == {"landed": (topic, delivered[2].partition(), delivered[2].offset()),
                       "approved": (topic, delivered[3].partition(), delivered[3].offset())}
    run = stack.wait_for(fired[0]["execution_id"])
    assert run["status"] == "SUCCEEDED"
    stack.api("DELETE", "/api/v1/schedules/on-orders")


def test_an_event_trigger_whose_record_does_not_come_starts_nothing(stack: Stack) -> None:
    topic = stack.settings.topic("quiet")
    ensure_topics(stack.settings, [topic])
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    stack.api("POST", "/api/v1/schedules", {
        "schedule_id": "quiet", "flow": "tick", "cron": "every 1h", "start": start.isoformat(), "max_wait": "3s",
        "dependencies": [{"name": "never", "type": "kafka", "params": {"topic": topic, "match": "never"}}]})
    skipped = wait_until(lambda: [f for f in schedule(stack, "quiet")["fires"] if f["outcome"] == "SKIPPED"], 30,
                         "the wait to run out")
    assert skipped[0]["reason"] == "dependencies not met within 3 s: never"
    assert executions_of(stack, "quiet") == []
    stack.api("DELETE", "/api/v1/schedules/quiet")


TRIGGERED = """
trigger:
  maxWaitMins: 5
  schedule:
    type: cron
    value: 0 0 1 ? * *
  triggerDependencies:
    - name: landed
      type: kafka
      params:
        topic: AzEvent_Topic1
        match: hadoop?.*
nodes:
  - name: a
    type: noop
"""


def test_a_flows_trigger_block_makes_its_schedule_and_follows_the_flow(stack: Stack) -> None:
    answer = stack.api("POST", "/api/v1/flows?name=triggered", raw=TRIGGERED.encode(), content_type="text/yaml")
    assert answer["trigger"]["schedule_id"] == "trigger:triggered"
    def made() -> dict[str, Any] | None:
        try:
            return schedule(stack, "trigger:triggered")
        except ApiFailure:
            return None

    s = wait_until(made, 20, "the trigger's schedule")
    assert (s["cron"], s["overlap"], s["origin"], s["max_wait_ms"]) == ("0 0 1 ? * *", "allow_all", "trigger",
                                                                        300_000)
    assert s["dependencies"] == [{"name": "landed", "type": "kafka",
                                  "params": {"topic": "AzEvent_Topic1", "match": "hadoop?.*"}}]
    # Azkaban's own trigger file: its dependency type is not one Kafkaban watches, and the answer says so
    azkaban = (ROOT / "tests/azkaban/flowtriggeryamltest/flow_trigger.flow").read_text()
    refused = stack.api("POST", "/api/v1/flows?name=azkaban_trigger", raw=azkaban.encode(), content_type="text/yaml")
    assert "type 'dali-dataset' is not supported" in json.dumps(refused["trigger"]["problems"])
    # the trigger block removed: its schedule goes
    stack.api("POST", "/api/v1/flows?name=triggered", raw=b"nodes:\n  - name: a\n    type: noop\n",
              content_type="text/yaml")
    wait_until(lambda: schedule(stack, "trigger:triggered")["status"] == "DELETED", 20, "the schedule deleted")
