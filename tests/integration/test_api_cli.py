"""The HTTP API's answers and errors, and the CLI against a running stack."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.client import ApiFailure
from tests.integration.stack import Stack

GOOD = "name: cli-ok\nparams: {n: '1'}\nnodes: [{name: a, type: command, config: {command: 'exit 0'}}]\n"
BAD = "name: cli-bad\nnodes: [{name: a, type: command, config: {command: 'exit 7'}}]\n"


def cli(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "KAFKABAN_URL": stack.url}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def error_of(call) -> ApiFailure:
    with pytest.raises(ApiFailure) as info:
        call()
    return info.value


def test_api_errors_are_json_with_the_right_status(stack: Stack):
    assert error_of(lambda: stack.api("GET", "/api/v1/executions/nope")).status == 404
    unknown = error_of(lambda: stack.api("POST", "/api/v1/executions", {"flow": "never-registered"}))
    assert unknown.status == 404 and "not registered" in unknown.message
    assert error_of(lambda: stack.api("POST", "/api/v1/executions", {})).status == 400
    invalid = error_of(lambda: stack.register("nodes: [{name: a, type: command}]"))
    assert invalid.status == 422 and invalid.details[0]["message"] == "a command job needs config.command"
    # a job type is resolved when the job runs, as in Azkaban: registering one no plugin provides only warns
    warned = stack.register("nodes: [{name: a, type: shell}]")
    assert warned["warnings"][0]["message"].startswith("job type 'shell' is not built in")
    too_big = error_of(lambda: stack.api("POST", "/api/v1/flows", raw=b"#" * (512 * 1024 + 1),
                                         content_type="text/yaml"))
    assert too_big.status == 413
    # 100k params: a submission too large for one Kafka record is a 413 before anything is written
    before = stack.api("GET", "/api/v1/executions?limit=100")["executions"]
    params = {f"p{i}": "x" * 8 for i in range(100_000)}
    huge = error_of(lambda: stack.api("POST", "/api/v1/executions",
                                      {"definition": "nodes: [{name: a, type: noop}]", "params": params}))
    assert huge.status == 413 and "at most 1,048,576" in huge.message, huge.message
    # 1,001 params in a body under the limit: the param count is capped too
    many = error_of(lambda: stack.api("POST", "/api/v1/executions", {
        "definition": "nodes: [{name: a, type: noop}]", "params": {f"p{i}": "x" for i in range(1001)}}))
    assert many.status == 413 and "at most 1,000" in many.message, many.message
    assert stack.api("GET", "/api/v1/executions?limit=100")["executions"] == before
    missing = error_of(lambda: stack.api("POST", "/api/v1/executions",
                                         {"definition": "params: {day: null}\nnodes: [{name: a, type: noop}]"}))
    assert missing.status == 422 and "day" in missing.message
    bad_body = error_of(lambda: stack.api("POST", "/api/v1/executions", {"params": "not a map"}))
    assert bad_body.status == 422
    done = stack.wait_for(stack.submit(definition="nodes: [{name: a, type: noop}]"))
    conflict = error_of(lambda: stack.api("POST", f"/api/v1/executions/{done['execution_id']}/cancel"))
    assert conflict.status == 409
    assert stack.api("GET", "/openapi.json")["info"]["title"] == "Kafkaban"


def test_flows_are_listed_with_their_latest_version(stack: Stack):
    first = stack.register("name: listed\nnodes: [{name: a, type: noop}]")
    second = stack.register("name: listed\nnodes: [{name: a, type: noop}, {name: b, type: noop}]")
    assert first["version"] != second["version"] and second["projected"]
    flows = {f["name"]: f for f in stack.api("GET", "/api/v1/flows")["flows"]}
    assert flows["listed"]["version"] == second["version"] and flows["listed"]["versions"] == 2


def test_idempotency_key_returns_the_same_execution(stack: Stack):
    body = {"definition": "name: once\nnodes: [{name: a, type: noop}]", "idempotency_key": "run-42"}
    first = stack.api("POST", "/api/v1/executions", body)
    second = stack.api("POST", "/api/v1/executions", body)
    assert first["execution_id"] == second["execution_id"] and second["duplicate"] is True


def test_cli_register_submit_wait_status_and_exit_codes(stack: Stack, tmp_path: Path):
    good, bad = tmp_path / "cli-ok.yaml", tmp_path / "cli-bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    registered = cli(stack, "flow", "register", str(good))
    assert registered.returncode == 0, registered.stderr
    ok = cli(stack, "submit", "cli-ok", "-p", "n=2", "--wait", "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["status"] == "SUCCEEDED" and report["params"] == {"n": "2"}
    assert [(j["job"], j["status"]) for j in report["jobs"]] == [("a", "SUCCEEDED")]
    failed = cli(stack, "submit", str(bad), "--wait")
    assert failed.returncode == 1 and "FAILED" in failed.stdout and "exit code 7" in failed.stdout
    usage = cli(stack, "submit", "cli-ok", "-p", "no-equals-sign")
    assert usage.returncode == 2
    unknown = cli(stack, "submit", "no-such-flow", "--wait")
    assert unknown.returncode == 2 and "not registered" in unknown.stderr
    status = cli(stack, "status", report["execution_id"], "--json")
    assert json.loads(status.stdout)["status"] == "SUCCEEDED"
    listed = cli(stack, "executions", "--status", "FAILED", "--json")
    assert all(e["status"] == "FAILED" for e in json.loads(listed.stdout)["executions"])


def test_cli_cancel_and_wait_report_cancelled(stack: Stack, tmp_path: Path):
    flow = tmp_path / "sleepy.yaml"
    flow.write_text("nodes: [{name: nap, type: command, config: {command: 'exec sleep 60'}}]\n")
    submitted = cli(stack, "submit", str(flow))
    execution_id = submitted.stdout.strip()
    stack.wait_for(execution_id, {"RUNNING"}, job="nap")
    assert cli(stack, "cancel", execution_id).returncode == 0
    assert stack.wait_for(execution_id)["status"] == "CANCELLED"


def test_engine_restart_rebuilds_state_from_the_log(stack: Stack, tmp_path: Path):
    gate = tmp_path / "gate"
    execution_id = stack.submit(definition="""
name: restart
params: {gate: null}
nodes:
  - {name: first, type: command, config: {command: "while [ ! -f ${gate} ]; do sleep 0.1; done"}}
  - {name: second, type: noop, dependsOn: [first]}
""", gate=str(gate))
    stack.wait_for(execution_id, {"RUNNING"}, job="first")
    engine = stack.processes["engine"]
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    gate.touch()  # first ends while no engine runs: its JobSucceeded waits in the log
    time.sleep(1)
    stack.spawn("engine", "engine")
    execution = stack.wait_for(execution_id, timeout=60)
    assert execution["status"] == "SUCCEEDED"
    assert [j["status"] for j in execution["jobs"]] == ["SUCCEEDED", "SUCCEEDED"]


# PostgreSQL text cannot hold NUL: a NUL in a path or query parameter once reached it and answered 500
@pytest.mark.parametrize("path", [
    "/api/v1/executions/abc%00def",
    "/api/v1/executions?flow=a%00b",
    "/api/v1/executions?status=RUNNING%00",
    "/api/v1/executions/abc%00/events",
    "/api/v1/executions/abc/jobs/a%00/logs",
    "/api/v1/flows/a%00b",
])
def test_nul_in_a_path_or_query_parameter_is_a_400(stack: Stack, path: str):
    refused = error_of(lambda: stack.api("GET", path))
    assert refused.status == 400 and "NUL" in refused.message


@pytest.mark.parametrize("query", ["partition=-1&min_offset=0", "partition=0&min_offset=-5"])
def test_a_negative_partition_or_offset_is_a_400(stack: Stack, query: str):
    assert error_of(lambda: stack.api("GET", f"/api/v1/executions?{query}")).status == 400
    assert error_of(lambda: stack.api("GET", f"/api/v1/executions/abc?{query}")).status == 400
