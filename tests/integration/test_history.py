"""History you can trust: audit from Kafka, time-travel, replay verify, rebuild, crash and duplicate safety."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from urllib.parse import quote

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from engine.audit import history_from_kafka
from engine.client import ApiFailure
from engine.codec.partitioning import partition_for
from engine.kafka import consumer_config, ensure_topics, producer_config
from engine.log_reader import read_records
from projections.rebuild import replay_into
from tests.integration.stack import Stack

CHAIN = """
name: chain
nodes:
  - name: a
    type: command
    config:
      command: |
        echo line-one; echo line-two >&2; echo '{"x": 1}' > $KAFKABAN_OUTPUT_FILE
  - {name: b, type: noop, dependsOn: [a]}
  - {name: c, type: noop, dependsOn: [b]}
"""
VOLATILE = {"updated_at", "last_heartbeat"}
TABLES = {"executions": "execution_id", "jobs": "execution_id, job", "job_runs": "execution_id, job, attempt",
          "events": "event_id", "flows": "name, version", "job_logs": "event_id",
          "deadletters": 'topic, partition, "offset"'}


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "KAFKABAN_URL": stack.url}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def table_hash(stack: Stack, schema: str = "kafkaban") -> dict[str, str]:
    """A digest of each view's rows (all columns but the volatile ones), in key order."""
    out = {}
    with psycopg.connect(stack.settings.database_url, options=f"-c search_path={schema}") as conn:
        for table, order in TABLES.items():
            digest = hashlib.sha256()
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            columns = [c.name for c in cur.description]
            for row in cur:
                digest.update(repr([v for c, v in zip(columns, row, strict=True) if c not in VOLATILE]).encode())
            out[table] = digest.hexdigest()
    return out


def differing_rows(stack: Stack, table: str) -> dict[str, list[tuple[object, ...]]]:
    def rows(schema: str) -> set[tuple[object, ...]]:
        with psycopg.connect(stack.settings.database_url, options=f"-c search_path={schema}") as conn:
            return set(conn.execute(f"SELECT * FROM {table}").fetchall())

    live, clean = rows("kafkaban"), rows("kafkaban_clean")
    return {"live only": sorted(live - clean, key=repr)[:5], "replay only": sorted(clean - live, key=repr)[:5]}


def caught_up(stack: Stack, timeout: float = 60) -> None:
    """Wait until every execution has ended and the projector has written every topic but the heartbeats."""
    consumer = Consumer(consumer_config(stack.settings, f"probe-{uuid.uuid4()}"))
    s = stack.settings
    topics = [s.executions_topic, s.logs_topic, s.definitions_topic, s.deadletter_topic]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with psycopg.connect(stack.settings.database_url, options="-c search_path=kafkaban") as conn:
                open_ = conn.execute("SELECT count(*) FROM executions WHERE status IN ('SUBMITTED', 'RUNNING')"
                                     ).fetchone()[0]
                stored = {(t, p): o for t, p, o in conn.execute(
                    "SELECT topic, partition, next_offset FROM projector_offsets").fetchall()}
            highs = {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=5)[1]
                     for t in topics for p in range(3)}
            if open_ == 0 and all(stored.get(key, 0) >= high for key, high in highs.items()):
                time.sleep(1.0)  # let the last timer or heartbeat-driven writes settle
                return
            time.sleep(0.2)
    finally:
        consumer.close()
    raise AssertionError("the projection did not catch up:\n" + stack.logs())


@pytest.fixture(scope="module")
def finished(stack: Stack) -> str:
    stack.register(CHAIN)
    execution_id = stack.submit("chain")
    assert stack.wait_for(execution_id)["status"] == "SUCCEEDED"
    return execution_id


def test_history_from_the_projection_equals_the_history_from_kafka(stack: Stack, finished: str):
    projected = stack.api("GET", f"/api/v1/executions/{finished}/events")["events"]
    logged = history_from_kafka(stack.settings, finished)
    assert [e["event_id"] for e in projected] == [item.event.event_id for item in logged]
    assert [e["offset"] for e in projected] == [item.offset for item in logged]
    assert projected[0]["type"] == "ExecutionSubmitted" and projected[-1]["type"] == "ExecutionSucceeded"
    from_kafka = cli(stack, "history", finished, "--from-kafka", "--json")
    assert from_kafka.returncode == 0, from_kafka.stderr
    assert [e["event_id"] for e in json.loads(from_kafka.stdout)["events"]] == [e["event_id"] for e in projected]
    text = cli(stack, "history", finished)
    assert text.returncode == 0 and "JobSucceeded" in text.stdout and "job=a" in text.stdout


def test_partition_for_matches_the_clients_murmur2(stack: Stack):
    probe = f"{stack.prefix}.partition-probe"
    ensure_topics(stack.settings, [probe])
    producer = Producer(producer_config(stack.settings))
    placed: dict[bytes, int] = {}
    keys = [str(uuid.uuid4()).encode() for _ in range(30)] + [b"", b"a", b"ab", b"abc"]
    for key in keys:
        producer.produce(probe, key=key, value=b"x",
                         on_delivery=lambda err, msg: placed.__setitem__(msg.key(), msg.partition()))
    producer.flush(10)
    assert {key: partition_for(key, 3) for key in keys} == placed


def test_time_travel_returns_the_state_at_a_known_offset(stack: Stack, finished: str):
    events = stack.api("GET", f"/api/v1/executions/{finished}/events")["events"]
    a_done = next(e for e in events if e["type"] == "JobSucceeded" and e["payload"]["job"] == "a")
    then = stack.api("GET", f"/api/v1/executions/{finished}?as_of={a_done['offset']}")
    jobs = {j["job"]: j["status"] for j in then["jobs"]}
    assert then["status"] == "RUNNING" and jobs == {"a": "SUCCEEDED", "b": "PENDING", "c": "PENDING"}
    assert then["as_of"]["offset"] == a_done["offset"]
    at_start = stack.api("GET", f"/api/v1/executions/{finished}?as_of={events[0]['offset']}")
    assert at_start["status"] == "SUBMITTED"
    by_time = stack.api("GET", f"/api/v1/executions/{finished}?as_of={quote(events[-1]['occurred_at'])}")
    assert by_time["status"] == "SUCCEEDED"
    shown = cli(stack, "status", finished, "--as-of", str(a_done["offset"]), "--json")
    assert json.loads(shown.stdout)["status"] == "RUNNING"
    with pytest.raises(ApiFailure) as bad:
        stack.api("GET", f"/api/v1/executions/{finished}?as_of=yesterday")
    assert bad.value.status == 400


def test_query_api(stack: Stack, finished: str):
    for _ in range(4):
        stack.wait_for(stack.submit(definition="name: other\nnodes: [{name: a, type: noop}]"))
    page1 = stack.api("GET", "/api/v1/executions?limit=1")
    assert len(page1["executions"]) == 1 and page1["next_cursor"]
    ids = [e["execution_id"] for e in stack.api("GET", "/api/v1/executions?limit=1000")["executions"]]
    walked, cursor = [], None
    while True:
        page = stack.api("GET", "/api/v1/executions?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        walked += [e["execution_id"] for e in page["executions"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == ids
    assert all(e["flow_name"] == "chain" for e in stack.api("GET", "/api/v1/executions?flow=chain")["executions"])
    assert stack.api("GET", "/api/v1/executions?since=2999-01-01T00:00:00Z")["executions"] == []
    flow = stack.api("GET", "/api/v1/flows/chain")
    assert flow["name"] == "chain" and len(flow["versions"]) == 1 and "line-one" in flow["versions"][0]["source"]
    logs = stack.api("GET", f"/api/v1/executions/{finished}/jobs/a/logs")
    # stdout and stderr are read side by side: their relative order is not kept, each stream's is
    assert sorted((line["stream"], line["line"]) for line in logs["lines"]) == [("stderr", "line-two"),
                                                                                ("stdout", "line-one")]
    assert [line["seq"] for line in logs["lines"]] == [0, 1]
    workers = stack.api("GET", "/api/v1/workers")["workers"]
    assert any(w["pool"] == "default" and w["alive"] and w["slots"] == 4 for w in workers)
    metrics_request = urllib.request.Request(stack.url + "/metrics", headers={"Authorization": f"Bearer {stack.token}"})
    with urllib.request.urlopen(metrics_request, timeout=10) as response:
        metrics = response.read().decode()
    assert 'kafkaban_executions{status="SUCCEEDED"}' in metrics
    assert "kafkaban_dispatch_latency_seconds_count" in metrics and "kafkaban_projector_lag{" in metrics
    for path, status in (("/api/v1/executions?cursor=garbage", 400), ("/api/v1/flows/none", 404),
                         (f"/api/v1/executions/{finished}/jobs/zz/logs", 404),
                         ("/api/v1/executions?min_offset=3", 400)):
        with pytest.raises(ApiFailure) as info:
            stack.api("GET", path)
        assert info.value.status == status, path


def test_logs_follow_mode_streams_server_sent_events(stack: Stack):
    execution_id = stack.submit(definition="""
name: chatty
nodes: [{name: talk, type: command, config: {command: "for i in 1 2 3; do echo tick $i; sleep 0.3; done"}}]
""")
    stack.wait_for(execution_id, {"RUNNING", "SUCCEEDED"}, job="talk")
    request = urllib.request.Request(f"{stack.url}/api/v1/executions/{execution_id}/jobs/talk/logs?follow=true",
                                     headers={"Authorization": f"Bearer {stack.token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        body = response.read().decode()
    lines = [json.loads(chunk.split("data: ", 1)[1]) for chunk in body.split("\n\n") if "event: line" in chunk]
    assert [line["line"] for line in lines] == ["tick 1", "tick 2", "tick 3"]
    assert "event: end" in body


def test_read_your_writes(stack: Stack):
    answer = stack.api("POST", "/api/v1/executions", {"definition": "name: ryw\nnodes: [{name: a, type: noop}]"})
    found = stack.api("GET", f"/api/v1/executions/{answer['execution_id']}?partition={answer['partition']}"
                             f"&min_offset={answer['offset']}")
    assert found["execution_id"] == answer["execution_id"]


def test_replay_verify_passes_then_reports_a_corrupted_row(stack: Stack, finished: str):
    caught_up(stack)
    healthy = cli(stack, "replay", "verify", "--json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["ok"] and report["mismatches"] == [] and report["executions"] >= 1
    with psycopg.connect(stack.settings.database_url, options="-c search_path=kafkaban", autocommit=True) as conn:
        conn.execute("UPDATE executions SET status = 'FAILED' WHERE execution_id = %s", (finished,))
        conn.execute("UPDATE jobs SET attempt = 7 WHERE execution_id = %s AND job = 'b'", (finished,))
    broken = cli(stack, "replay", "verify")
    assert broken.returncode == 1
    assert f"{finished}: projection says FAILED, the log says SUCCEEDED" in broken.stdout
    assert f"{finished}/b: projection says SUCCEEDED attempt 7, the log says SUCCEEDED attempt 1" in broken.stdout
    assert "events/s" in broken.stderr  # progress is shown
    rebuilt = cli(stack, "projections", "rebuild")  # rebuilding from the log repairs the views
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "swapped it in" in rebuilt.stdout and "events/s" in rebuilt.stderr
    assert cli(stack, "replay", "verify").returncode == 0
    assert stack.execution(finished)["status"] == "SUCCEEDED"


def test_rebuild_from_offset_zero_gives_the_same_tables(stack: Stack, finished: str):
    caught_up(stack)
    before = table_hash(stack)
    assert cli(stack, "projections", "rebuild").returncode == 0
    assert table_hash(stack) == before
    after = stack.wait_for(stack.submit("chain"))  # the live projector follows the swapped-in tables
    assert after["status"] == "SUCCEEDED"


def test_duplicate_records_change_nothing(stack: Stack, finished: str):
    caught_up(stack)
    before = table_hash(stack)
    topic = stack.settings.executions_topic
    partition = history_from_kafka(stack.settings, finished)[0].partition
    records = list(read_records(stack.settings, topic, partition))
    producer = Producer(producer_config(stack.settings))
    for _, key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers)  # the same records again: same event ids
    producer.flush(10)
    caught_up(stack)
    assert table_hash(stack) == before


def test_projector_killed_under_load_resumes_to_the_same_tables_as_a_clean_replay(stack: Stack):
    chain = "".join(f"  - {{name: j{i}, type: noop, dependsOn: [j{i - 1}]}}\n" for i in range(1, 5))
    flow = "name: load\nnodes:\n  - {name: j0, type: noop}\n" + chain
    stack.register(flow)
    ids = [stack.api("POST", "/api/v1/executions", {"flow": "load"})["execution_id"] for _ in range(40)]
    projector = stack.processes["projector"]
    time.sleep(0.3)
    projector.send_signal(signal.SIGKILL)
    projector.wait()
    time.sleep(2)
    stack.spawn("projector", "projector")
    for execution_id in ids:
        assert stack.wait_for(execution_id, timeout=120)["status"] == "SUCCEEDED"
    caught_up(stack)
    replay_into(stack.settings, "kafkaban_clean")
    live, clean = table_hash(stack), table_hash(stack, "kafkaban_clean")
    assert live == clean, {t: differing_rows(stack, t) for t in live if live[t] != clean[t]}
