"""Azkaban Flow 1.0 projects become Flow 2.0 definitions as Azkaban's DirectoryFlowLoader reads them: each test
mirrors a DirectoryFlowLoaderTest method on the same directories (copied from Azkaban's test data)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import yaml

from engine.domain.loader import check_flow
from engine.projects.flow1 import convert

AZKABAN = Path(__file__).resolve().parents[1] / "azkaban"


def project(directory: str) -> dict[str, str]:
    return {path.name: path.read_text() for path in (AZKABAN / directory).iterdir()
            if path.suffix in (".job", ".properties")}


def test_directory_load():  # DirectoryFlowLoaderTest.testDirectoryLoad: 5 flows, 2 properties files, 14 jobs
    converted = convert(project("exectest1"))
    assert converted.errors == []
    assert len(converted.flows) == 5 and converted.properties_files == 2 and converted.jobs == 14
    for name, text in converted.flows.items():
        spec, problems = check_flow(text)
        assert problems == [] and spec is not None and spec.name == name


def test_load_embedded_flow():  # DirectoryFlowLoaderTest.testLoadEmbeddedFlow: 2 flows, 0 properties, 9 jobs
    converted = convert(project("embedded"))
    assert converted.errors == [] and sorted(converted.flows) == ["innerFlow", "jobe"]
    assert converted.properties_files == 0 and converted.jobs == 9
    spec, problems = check_flow(converted.flows["jobe"])
    assert problems == [] and spec is not None
    # jobb, jobc and jobd each embed innerFlow: its jobs run under each of them, after joba
    names = {job.name for job in spec.jobs}
    assert {"joba", "jobe", "jobb/innerJobA", "jobc/innerFlow", "jobd/innerJobC"} <= names
    assert spec.by_name["jobb/innerJobA"].depends_on == ("joba",)


def test_recursive_load_embedded_flow():  # DirectoryFlowLoaderTest.testRecursiveLoadEmbeddedFlow: 3 errors
    converted = convert(project("embedded_bad"))
    assert len(converted.errors) == 3, converted.errors
    assert all(error.startswith("embedded flows loop") for error in converted.errors)


def test_properties_inherit_from_the_directory_chain_in_name_order():
    converted = convert({"a.properties": "x=from-a\ny=from-a\ntype=command", "b.properties": "y=from-b",
                         "sub/c.properties": "z=from-sub", "sub/job.job": "command=echo ${x} ${y} ${z}\nz=own",
                         "root.job": "type=noop\ndependencies=job"})
    assert converted.errors == []
    node = yaml.safe_load(converted.flows["root"])["nodes"][0]
    assert node == {"name": "job", "type": "command", "config": {
        "x": "from-a", "y": "from-b", "z": "own", "command": "echo ${x} ${y} ${z}", "working.dir": "sub"}}


def test_load_errors_are_azkabans():
    converted = convert({"a.job": "type=command\ncommand=true\ndependencies=ghost,a", "b.job": "command=true",
                         "c/a.job": "type=noop", "d.job": "type=noop\ndependencies=e", "e.job": "type=noop\n"
                                                                                        "dependencies=d"})
    assert sorted(converted.errors) == sorted([
        "Duplicate job names found 'a'. (a.job and c/a.job)", "Job doesn't have type set 'b'. (b.job)",
        "a cannot find dependency ghost (a.job)", "a has a self cycle (a.job)",
        "Cyclical dependency found at d -> e -> d"])


def test_sample_flow_01_is_one_flow_ending_in_shell_end():  # AzkabanProjectLoaderTest's sample_flow_01.zip
    with zipfile.ZipFile(AZKABAN / "projects" / "sample_flow_01.zip") as z:
        files = {name: z.read(name).decode() for name in z.namelist() if name.endswith((".job", ".properties"))}
    converted = convert(files)
    assert converted.errors == [] and list(converted.flows) == ["shell_end"]
    spec, problems = check_flow(converted.flows["shell_end"])
    assert problems == [] and spec is not None
    assert sorted(spec.by_name["shell_end"].depends_on) == ["shell_bash", "shell_echo", "shell_pwd"]
    assert spec.by_name["shell_bash"].config == {"command": "bash ./sample_script.sh",
                                                  "working.dir": "sample_flow_01"}
