"""What a job can see, on a real worker: none of the worker's secrets (its database URL, engine key, tokens, Kafka
address and credentials) in its environment, and, with KAFKABAN_JOB_USER, not even the worker's user."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import Stack

PER_ATTEMPT = {"KAFKABAN_EXECUTION_ID", "KAFKABAN_JOB", "KAFKABAN_ATTEMPT", "KAFKABAN_OUTPUT_FILE",
               "JOB_OUTPUT_PROP_FILE", "KAFKABAN_PARAMS", "KAFKABAN_INPUTS", "KAFKABAN_WORKER_ID"}
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_"}  # what /bin/sh exports of its own
SECRET_SETTINGS = ("KAFKABAN_DATABASE_URL", "KAFKABAN_ENGINE_KEY", "KAFKABAN_TOKEN", "KAFKABAN_ADMIN_TOKEN",
                   "KAFKABAN_SESSION_KEY", "KAFKABAN_KAFKA_PASSWORD", "KAFKABAN_KAFKA_USERNAME", "KAFKABAN_BOOTSTRAP")
END = "end-of-environment"
PROJECTS = Path(__file__).resolve().parents[1] / "azkaban" / "projects"


def job_lines(stack: Stack, execution_id: str, job: str, last: str) -> list[str]:
    """The job's stdout lines, once the projector has them up to ``last``."""
    deadline = time.monotonic() + 30
    lines: list[str] = []
    while time.monotonic() < deadline:
        answer = stack.api("GET", f"/api/v1/executions/{execution_id}/jobs/{job}/logs")
        lines = [line["line"] for line in answer["lines"] if line["stream"] == "stdout"]
        if last in lines:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"the logs of {job} never reached {last!r}: {lines}\n{stack.logs()}")


def test_a_job_sees_none_of_the_workers_secrets(stack: Stack) -> None:
    execution_id = stack.submit(definition=f"""
name: show-environment
params: {{colour: blue}}
nodes:
  - {{name: dump, type: command, config: {{command: "env; echo {END}", env.GREETING: hello}}}}
""")
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED", execution["jobs"]
    lines = job_lines(stack, execution_id, "dump", END)
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    secrets = {name: stack.env[name] for name in SECRET_SETTINGS if stack.env.get(name)}
    assert {"KAFKABAN_DATABASE_URL", "KAFKABAN_BOOTSTRAP"} <= secrets.keys()  # the stack always has these
    assert not secrets.keys() & seen.keys()
    assert [line for line in lines if any(value in line for value in secrets.values())] == []
    allowed = set(stack.settings.job_env_allow) | PER_ATTEMPT | SHELL_OWN | {"colour", "GREETING"}
    assert set(seen) <= allowed, sorted(set(seen) - allowed)
    assert seen["KAFKABAN_EXECUTION_ID"] == execution_id and seen["GREETING"] == "hello" and seen["colour"] == "blue"


@pytest.fixture(scope="module")
def nobody_stack(bootstrap: str, new_database: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose worker runs every job as ``nobody`` (Azkaban's execute.as.user)."""
    logs = tmp_path_factory.mktemp("nobody-stack-logs")
    running = Stack(bootstrap, new_database(), Path(logs),  # type: ignore[operator]
                    extra_env={"KAFKABAN_JOB_USER": "nobody", "KAFKABAN_JOB_ENV_ALLOW": "PYTHONPATH"})
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker runs jobs as another user only when it runs as root")
def test_jobs_run_as_the_configured_user(nobody_stack: Stack) -> None:
    nobody = pwd.getpwnam("nobody")
    execution_id = nobody_stack.submit(definition="""
name: whoami
nodes:
  - name: who
    type: command
    config:
      command: |
        printf '{"uid": %s, "groups": "%s"}' "$(id -u)" "$(id -G)" > "$KAFKABAN_OUTPUT_FILE"
  - {name: proxied, type: command, config: {command: "id -u", user.to.proxy: root}}
""")
    execution = nobody_stack.wait_for(execution_id)
    who = nobody_stack.job(execution, "who")
    assert who["status"] == "SUCCEEDED", execution["jobs"]
    assert who["outputs"] == {"uid": nobody.pw_uid, "groups": str(nobody.pw_gid)}  # none of the worker's groups
    proxied = nobody_stack.job(execution, "proxied")
    assert proxied["status"] == "FAILED"
    assert "user.to.proxy 'root' is not a user this worker may run jobs as" in proxied["error"], proxied


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker runs jobs as another user only when it runs as root")
def test_a_project_runs_as_the_configured_user(nobody_stack: Stack) -> None:
    # JobA runs a script of the archive that writes its output file: the unpacked project and the attempt's
    # directory are nobody's
    archive = (PROJECTS / "conditionalFlowProject.zip").read_bytes()
    nobody_stack.api("POST", "/api/v1/projects/conditional", raw=archive, content_type="application/zip")
    execution = nobody_stack.wait_for(nobody_stack.submit("conditional/sample"), timeout=120)
    assert {j["job"]: j["status"] for j in execution["jobs"]} == {
        "JobA": "SUCCEEDED", "JobB": "SUCCEEDED", "JobC": "SKIPPED", "JobD": "SUCCEEDED"}, execution["jobs"]
