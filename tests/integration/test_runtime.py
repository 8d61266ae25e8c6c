"""The runtime end to end: real broker, real PostgreSQL, the parts as real processes."""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from engine.kafka import HEADER_REASON, consumer_config, producer_config
from tests.integration.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (ended, not yet reaped) counts as ended
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def wait_pid_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def read_pid(path: Path, timeout: float = 15) -> int:
    """The pid a job wrote (RUNNING is reported just before the process starts, so wait for the file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"no pid in {path} after {timeout} s")


def test_diamond_flow_succeeds(stack: Stack):
    stack.register("""
name: diamond
nodes:
  - {name: a, type: command, config: {command: "echo '{\\"n\\": 2}' > $KAFKABAN_OUTPUT_FILE"}}
  - {name: b, type: noop, dependsOn: [a]}
  - {name: c, type: command, dependsOn: [a], condition: "${a:n} == 2", config: {command: "echo c"}}
  - {name: d, type: python, dependsOn: [b, c], config: {function: "json:dumps"}}
""")
    execution = stack.wait_for(stack.submit("diamond"))
    assert execution["status"] == "SUCCEEDED", execution
    jobs = {j["job"]: j for j in execution["jobs"]}
    assert {name: j["status"] for name, j in jobs.items()} == dict.fromkeys("abcd", "SUCCEEDED")
    assert jobs["a"]["outputs"] == {"n": 2}
    assert jobs["d"]["started_at"] >= max(jobs["b"]["ended_at"], jobs["c"]["ended_at"])
    assert all(len(j["attempts"]) == 1 for j in jobs.values())


def test_retry_succeeds_on_attempt_two(stack: Stack, tmp_path: Path):
    marker = tmp_path / "first-attempt-done"
    execution_id = stack.submit(definition="""
name: flaky
params: {marker: null}
nodes:
  - name: flaky
    type: command
    retry: {max_attempts: 3, backoff: 200ms}
    config:
      command: test -f ${marker} || { touch ${marker}; echo "first attempt fails" >&2; exit 3; }
""", marker=str(marker))
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED"
    runs = stack.job(execution, "flaky")["attempts"]
    assert [(r["attempt"], r["status"], r["exit_code"]) for r in runs] == [(1, "FAILED", 3), (2, "SUCCEEDED", 0)]
    assert "first attempt fails" in runs[0]["error"]


def test_timeout_kills_the_attempt(stack: Stack, tmp_path: Path):
    pid_file = tmp_path / "pid"
    execution_id = stack.submit(definition="""
name: slow
params: {pid_file: null}
nodes:
  - name: slow
    type: command
    timeout: 2s
    config:
      command: echo $$ > ${pid_file}; exec sleep 60
""", pid_file=str(pid_file))
    execution = stack.wait_for(execution_id, timeout=30)
    assert execution["status"] == "FAILED"
    assert "timed out" in stack.job(execution, "slow")["error"]
    assert wait_pid_gone(read_pid(pid_file)), "the timed-out process is still running"


def test_cancel_kills_a_running_job(stack: Stack, tmp_path: Path):
    pid_file = tmp_path / "pid"
    execution_id = stack.submit(definition="""
name: long
params: {pid_file: null}
nodes:
  - {name: long, type: command, config: {command: "echo $$ > ${pid_file}; exec sleep 120"}}
  - {name: after, type: noop, dependsOn: [long]}
""", pid_file=str(pid_file))
    stack.wait_for(execution_id, {"RUNNING"}, job="long")
    pid = read_pid(pid_file)
    answer = stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {"requested_by": "tester"})
    assert answer["status"] == "CANCEL_REQUESTED"
    execution = stack.wait_for(execution_id, timeout=30)
    assert execution["status"] == "CANCELLED"
    assert {j["job"]: j["status"] for j in execution["jobs"]} == {"long": "CANCELLED", "after": "CANCELLED"}
    assert wait_pid_gone(pid), "the cancelled job's process is still running"


def test_worker_killed_mid_job_loses_its_lease_and_the_job_runs_on_another(stack: Stack, tmp_path: Path):
    pid_file = tmp_path / "pid"
    first = stack.spawn("worker-fragile-1", "worker", "--pool", "fragile", "--slots", "1")
    execution_id = stack.submit(definition="""
name: survivor
params: {pid_file: null}
nodes:
  - name: work
    type: command
    pool: fragile
    lease: 3s
    config:
      command: if [ "$KAFKABAN_ATTEMPT" = 1 ]; then echo $$ > ${pid_file}; exec sleep 60; fi; echo attempt 2
""", pid_file=str(pid_file))
    running = stack.wait_for(execution_id, {"RUNNING"}, job="work", timeout=60)
    first_worker = stack.job(running, "work")["worker_id"]
    pid = read_pid(pid_file)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert wait_pid_gone(pid), "the dead worker's job process is still running"
    stack.spawn("worker-fragile-2", "worker", "--pool", "fragile", "--slots", "1")
    execution = stack.wait_for(execution_id, timeout=90)
    assert execution["status"] == "SUCCEEDED", execution
    runs = stack.job(execution, "work")["attempts"]
    assert runs[0]["status"] == "FAILED" and "lease expired" in runs[0]["error"]
    assert runs[-1]["status"] == "SUCCEEDED" and runs[-1]["worker_id"] != first_worker


def test_poison_record_is_dead_lettered_and_processing_goes_on(stack: Stack):
    settings = stack.settings
    producer = Producer(producer_config(settings))
    producer.produce(settings.executions_topic, key=b"poison", value=b"\xc3\x01 definitely not avro")
    producer.flush(10)
    consumer = Consumer(consumer_config(settings, f"{settings.topic_prefix}-dlq-reader"))
    consumer.subscribe([settings.deadletter_topic])
    found = None
    deadline = time.monotonic() + 30
    while found is None and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None and message.key() == b"poison":
            found = message
    consumer.close()
    assert found is not None, stack.log("engine")
    headers = dict(found.headers())
    assert found.value() == b"\xc3\x01 definitely not avro"
    assert b"unknown schema fingerprint" in headers[HEADER_REASON] or b"not Avro" in headers[HEADER_REASON]
    assert headers["kafkaban.source.topic"] == settings.executions_topic.encode()
    after = stack.wait_for(stack.submit(definition="nodes: [{name: a, type: noop}]"))
    assert after["status"] == "SUCCEEDED"


def test_execution_submitted_by_another_service_runs(stack: Stack):
    spec = importlib.util.spec_from_file_location("raw_producer", ROOT / "examples" / "raw_producer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    execution_id = module.submit(stack.settings.bootstrap, stack.prefix, str(ROOT / "schemas/executions.v1.avsc"))
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED"
    assert execution["submitter"] == "billing-service"


@pytest.mark.parametrize("value", ["$(touch {dir}/x); rm -rf {dir}/keep", "`touch {dir}/x`", "a' ; touch '{dir}/x"])
def test_parameter_values_cannot_inject_shell(stack: Stack, tmp_path: Path, value: str):
    keep = tmp_path / "keep"
    keep.mkdir()
    literal = value.format(dir=tmp_path)
    execution_id = stack.submit(definition="""
name: quoting
params: {value: null}
nodes:
  - name: echo
    type: python
    config: {function: "tests.integration.jobs:echo_param"}
  - name: shell
    type: command
    config:
      command: |
        printf '{"v": "%s"}' ${value} > "$KAFKABAN_OUTPUT_FILE"
""", value=literal)
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED", execution["jobs"]
    assert stack.job(execution, "shell")["outputs"] == {"v": literal}
    assert stack.job(execution, "echo")["outputs"] == {"value": literal}
    assert not (tmp_path / "x").exists()
    assert keep.exists()
