"""On a real worker, a submitted param value reaches a command job as exactly its text in every shell context, and
never runs: one execution per hostile value, one job per context, each writing what it saw to a file."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.stack import Stack
from tests.support.shell_contexts import CONTEXTS, hostile_values


def flow(seen: Path) -> str:
    nodes = [{"name": f"context-{index}", "type": "command",
              "config": {"command": f'{{ {template}\n}} > "{seen}/$KAFKABAN_EXECUTION_ID.{index}"'}}
             for index, (_name, template, _expected) in enumerate(CONTEXTS)]
    return yaml.safe_dump({"name": "param-contexts", "params": {"v": None, "w": "w-value"}, "nodes": nodes})


def test_hostile_values_arrive_as_their_text_in_every_context_and_never_run(stack: Stack, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    canary = tmp_path / "pwned"
    values = hostile_values(canary)
    definition = flow(seen)
    executions = {stack.submit(definition=definition, v=value): value for value in values}
    for execution_id, value in executions.items():
        execution = stack.wait_for(execution_id, timeout=180)
        assert execution["status"] == "SUCCEEDED", (value, execution["jobs"])
        for index, (context, _template, expected) in enumerate(CONTEXTS):
            got = (seen / f"{execution_id}.{index}").read_bytes().decode()
            assert got == expected(value), (context, value, got)
    assert not canary.exists()


def test_a_param_named_like_a_loader_variable_does_not_reach_the_environment(stack: Stack, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    execution_id = stack.submit(definition="""
name: env-names
nodes:
  - name: show
    type: command
    config:
      command: |
        printf '{"path_changed": "%s", "preload": "%s"}' "$([ "$PATH" = /nowhere ] && echo yes)" \
          "${LD_PRELOAD:-}" > "$KAFKABAN_OUTPUT_FILE"
""", PATH="/nowhere", LD_PRELOAD=str(canary), BASH_ENV=str(canary))
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED", execution["jobs"]
    assert stack.job(execution, "show")["outputs"] == {"path_changed": "", "preload": ""}


def test_arithmetic_on_a_value_that_is_not_a_number_fails_the_job_with_the_reason(stack: Stack) -> None:
    execution_id = stack.submit(definition="""
name: arithmetic
params: {n: null}
nodes:
  - {name: add, type: command, config: {command: "echo $(( ${n} + 1 ))"}}
""", n="a[$(touch /tmp/never)]")
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "FAILED"
    assert "arithmetic" in stack.job(execution, "add")["error"]


def test_a_param_that_would_change_what_runs_is_a_422_and_writes_nothing(stack: Stack) -> None:
    from engine.client import ApiFailure

    try:
        stack.submit(definition="nodes: [{name: a, type: command, config: {command: 'echo hi'}}]",
                     **{"command": "touch /tmp/pwned", "env.LD_PRELOAD": "/tmp/x.so"})
    except ApiFailure as exc:
        assert exc.status == 422 and "command, env.LD_PRELOAD would change what a job runs" in exc.message
    else:
        raise AssertionError("accepted")
