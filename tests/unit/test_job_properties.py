"""Azkaban job properties: references resolved as PropsUtils resolves them, the eager runtime-property precedence,
the built-ins, multi-command jobs, env.* and working.dir, each run by a real shell where it runs something."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.domain.commands import DispatchJob
from engine.domain.loader import check_flow, flow_warnings
from engine.domain.properties import Properties, PropertyError, builtins, command_names
from workers.jobs import JobSetupError, launch


def run(config: dict[str, str], tmp_path: Path, params: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    dispatch = DispatchJob("e-1", "parent/job", 2, "default", "command", config, params or {}, inputs or {},
                           flow_name="props", flow_started_at=1_764_412_800_123)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    plan = launch(dispatch, work / "output.json", dict(os.environ))
    assert plan.argv is not None
    return subprocess.run(plan.argv, env=plan.env, cwd=plan.cwd or work, capture_output=True, text=True, timeout=10)


def test_good_resolve_props():  # PropsUtilsTest.testGoodResolveProps: chained and late-bound references
    props = Properties({"a": "${b}-a", "b": "${c}-b", "c": "c", "d": "${a}/${param.inData}"},
                       {"param.inData": "in"})
    assert props.value("a") == "c-b-a"
    assert props.value("d") == "c-b-a/in"  # dotted names resolve


def test_cycles_resolve_props():  # PropsUtilsTest.testCyclesResolveProps
    with pytest.raises(PropertyError, match="circular variable substitution found: a -> b -> a"):
        Properties({"a": "${b}", "b": "${a}"}, {}).value("a")
    with pytest.raises(PropertyError, match="circular variable substitution found: a -> a"):
        Properties({"a": "x${a}"}, {}).value("a")


def test_props_with_properties_undefined():  # PropsUtilsTest.testPropsWithPropertiesUndefined
    with pytest.raises(PropertyError, match=r"could not find variable substitution for \$\{missing\} \(in x\)"):
        Properties({"x": "${missing}"}, {}).value("x")


def test_runtime_params_win_over_config_except_what_runs():
    # FlowRunnerPropertyResolutionTest.testFlow2_0RuntimePropertyResolutionWithHighestPrecedenceToRuntimePropsEnabled:
    # a submitted value beats the job's config; built-ins and parent outputs are the lowest layers
    props = Properties.of({"day": "config-day", "command": "echo ${day}", "azkaban.job.id": "mine"},
                          params={"day": "param-day", "command": "rm -rf /", "env.LD_PRELOAD": "x"},
                          outputs={"day": "output-day", "rows": "3", "command.1": "touch pwned"},
                          builtin={"azkaban.job.id": "job", "azkaban.flow.flowid": "flow"})
    assert props.value("day") == "param-day"
    assert props.config["command"] == "echo ${day}"  # a param never says what runs
    assert "env.LD_PRELOAD" not in props.data and "command.1" not in props.data
    assert props.value("rows") == "3" and props.value("azkaban.flow.flowid") == "flow"
    assert props.value("azkaban.job.id") == "mine"  # config beats a built-in, as there


def test_a_command_keeps_data_as_references_and_config_as_text():
    props = Properties.of({"command": "run ${opts} ${HOME}", "opts": "--day ${day} --fast"}, {"day": "$(x)"})
    assert props.command("command") == "run --day ${day} --fast ${HOME}"  # ${HOME}: the shell's own


def test_builtins_have_azkabans_names():  # FlowUtils.addCommonFlowProperties, JobRunner.prepareJob
    found = builtins("e-1", "etl", "parent/load", 3, 1_764_412_800_123)
    assert found["azkaban.flow.flowid"] == "etl" and found["azkaban.flow.execid"] == "e-1"
    assert found["azkaban.job.id"] == "load" and found["azkaban.job.attempt"] == "2"  # 0-based there
    assert found["azkaban.flow.start.timestamp"] == "2025-11-29T10:40:00.123+00:00"
    assert (found["azkaban.flow.start.year"], found["azkaban.flow.start.month"], found["azkaban.flow.start.day"],
            found["azkaban.flow.start.hour"], found["azkaban.flow.start.minute"]) == ("2025", "11", "29", "10", "40")
    assert found["azkaban.flow.uuid"] == builtins("e-1", "etl", "x", 1, 0)["azkaban.flow.uuid"]  # per execution


def test_multi_command_jobs_run_in_order_and_stop_at_the_first_failure(tmp_path: Path):
    # ProcessJobTest.testMultipleUnixCommands; ProcessJob.getCommandList stops at the first gap
    done = run({"command": "echo one", "command.1": "echo two", "command.2": "echo three", "command.4": "echo gap"},
               tmp_path)
    assert done.stdout.split() == ["one", "two", "three"]
    failed = run({"command": "echo one", "command.1": "exit 3", "command.2": "echo never"}, tmp_path)
    assert failed.returncode == 3 and failed.stdout.split() == ["one"]
    assert command_names({"command.1": "x"}) == []


def test_env_properties_and_builtins_and_outputs_reach_the_command(tmp_path: Path):
    done = run({"command": "echo \"$GREETING ${azkaban.flow.flowid} ${azkaban.job.attempt} ${rows} ${who}\"",
                "env.GREETING": "hello ${who}", "who": "${azkaban.job.id}"}, tmp_path,
               inputs={"parent/up:rows": json.dumps(12)})
    assert done.stdout.strip() == "hello job props 1 12 job"


def test_working_dir_is_honoured_and_may_not_leave_the_job_directory(tmp_path: Path):
    done = run({"command": "pwd", "working.dir": "sub/dir"}, tmp_path)
    assert done.stdout.strip() == str((tmp_path / "work" / "sub" / "dir").resolve())
    for outside in ("..", "/etc", "sub/../../.."):
        with pytest.raises(JobSetupError, match="outside the job's working directory"):
            run({"command": "pwd", "working.dir": outside}, tmp_path)


def test_a_hostile_param_referenced_through_config_never_runs(tmp_path: Path):
    canary = tmp_path / "pwned"
    done = run({"command": "printf '%s' ${opts}", "opts": "--day=${day}"}, tmp_path,
               params={"day": f"$(touch {canary})"})
    assert done.stdout == f"--day=$(touch {canary})" and not canary.exists()


def test_an_unresolvable_reference_fails_the_job_with_the_reason(tmp_path: Path):
    with pytest.raises(JobSetupError, match=r"could not find variable substitution for \$\{nope\}"):
        run({"command": "echo ${x}", "x": "${nope}"}, tmp_path)
    with pytest.raises(JobSetupError, match="circular"):
        run({"command": "echo ${x}", "x": "${y}", "y": "${x}"}, tmp_path)


def test_validation_reports_cycles_as_errors_and_unknown_names_as_warnings():
    spec, problems = check_flow("""
config: {a: "${b}", b: "${a}"}
nodes: [{name: j, type: command, config: {command: "echo ${a}"}}]
""")
    assert [p.message for p in problems] == ["circular variable substitution found: a -> b -> a"]
    spec, problems = check_flow("""
params: {day: null}
nodes: [{name: j, type: command, config: {command: "echo ${x} ${day} ${HOME}", x: "${region}-${day}"}}]
""")
    assert problems == [] and spec is not None
    assert [w.message for w in flow_warnings(spec)] == [
        "${region} in x is not defined by any config or declared param: it must be given as a param at submission"]


@pytest.mark.parametrize("name", ["command", "command.1", "env.PATH", "working.dir", "type"])
def test_a_param_that_would_change_what_runs_rejects_the_submission(name: str):
    from tests.support.harness import Harness

    h = Harness("nodes: [{name: a, type: command, config: {command: 'echo hi'}}]")
    h.submit(params={name: "touch /tmp/pwned"})
    assert h.state.status == "REJECTED"
    assert f"params {name} would change what a job runs" in h.state.errors[0]
