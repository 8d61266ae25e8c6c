"""Job type plugins: Azkaban-style plugin.properties templates and Python entry points, resolved when a job runs;
a type no plugin provides fails the job with the reason. Java properties are read as java.util.Properties does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.domain import javaprops
from engine.domain.commands import DispatchJob
from workers.jobs import JobSetupError, launch
from workers.jobtypes import JobTypeError, JobTypes, load_directory


def test_java_properties_as_java_reads_them():
    text = "# comment\n! also\nkey=value\nspaced : colon \nblank value\nlong=one \\\n    two\npath=C\\:\\\\x\n" \
           "uni=\\u00e9t\\u00e9\nempty=\nkey=later wins\n"
    assert javaprops.parse(text) == {"key": "later wins", "spaced": "colon ", "blank": "value", "long": "one two",
                                     "path": "C:\\x", "uni": "été", "empty": ""}


def plugins(tmp_path: Path, **types: str) -> JobTypes:
    for kind, text in types.items():
        (tmp_path / kind).mkdir(parents=True)
        (tmp_path / kind / "plugin.properties").write_text(text)
    return JobTypes(load_directory(tmp_path))


def run(dispatch: DispatchJob, tmp_path: Path, jobtypes: JobTypes) -> str:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    plan = launch(dispatch, work / "output.json", dict(os.environ), jobtypes)
    assert plan.argv is not None
    return subprocess.run(plan.argv, env=plan.env, cwd=plan.cwd or work, capture_output=True, text=True,
                          check=True, timeout=10).stdout


def job(kind: str, config: dict[str, str], params: dict[str, str] | None = None) -> DispatchJob:
    return DispatchJob("e", "j", 1, "etl", kind, config, params or {})


def test_a_template_plugin_runs_with_the_jobs_config_on_top(tmp_path: Path):
    types = plugins(tmp_path / "types", greet="command=echo ${greeting}, ${who}\ngreeting=hello\nwho=nobody\n")
    assert run(job("greet", {"who": "${name}"}, {"name": "$(touch x)"}), tmp_path, types) == "hello, $(touch x)\n"
    assert run(job("greet", {"greeting": "hi", "who": "you"}), tmp_path, types) == "hi, you\n"
    assert not (tmp_path / "work" / "x").exists()


def test_a_python_plugin_gets_resolved_properties_and_returns_an_argv(tmp_path: Path):
    def plugin(properties):
        return ["printf", "%s|%s", properties["table"], properties["azkaban.job.id"]]

    dispatch = DispatchJob("e", "j", 1, "etl", "load", {"table": "${day}_t"}, {"day": "$(x)"}, flow_name="f",
                           flow_started_at=0)
    assert run(dispatch, tmp_path, JobTypes(callables={"load": plugin})) == "$(x)_t|j"


@pytest.mark.parametrize("result", [None, [], "echo hi", [1]])
def test_a_python_plugin_returning_no_argv_fails_the_job(tmp_path: Path, result):
    with pytest.raises(JobSetupError, match="must return a non-empty list of strings"):
        run(job("bad", {}), tmp_path, JobTypes(callables={"bad": lambda properties: result}))


def test_a_python_plugin_that_raises_fails_the_job_with_its_error(tmp_path: Path):
    def plugin(properties):
        raise KeyError("jar")

    with pytest.raises(JobSetupError, match="job type plugin 'boom' failed: KeyError"):
        run(job("boom", {}), tmp_path, JobTypes(callables={"boom": plugin}))


def test_a_type_no_plugin_provides_fails_with_the_reason(tmp_path: Path):
    types = plugins(tmp_path / "types", greet="command=echo hi\n")
    with pytest.raises(JobSetupError, match=r"unknown job type 'spark': no plugin for it on this worker of pool etl "
                                            r"\(it runs command, greet, noop, python\)"):
        run(job("spark", {}), tmp_path, types)


def test_bad_plugin_directories_are_refused(tmp_path: Path):
    with pytest.raises(JobTypeError, match="does not exist"):
        load_directory(tmp_path / "missing")
    with pytest.raises(JobTypeError, match="needs a command template"):
        plugins(tmp_path / "a", nothing="env.X=1\n")
    with pytest.raises(JobTypeError, match="built-in job type"):
        plugins(tmp_path / "b", command="command=echo\n")
