"""Projects end to end: Azkaban's own project zips upload and run to the status Azkaban gives them, jobs run in a
fresh copy of the archive their execution pinned, and bad archives are refused with a clear error, changing
nothing."""

from __future__ import annotations

import io
import json
import socket
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from engine.client import ApiFailure, call
from tests.integration.stack import Stack

PROJECTS = Path(__file__).resolve().parents[1] / "azkaban" / "projects"


def upload(stack: Stack, name: str, data: bytes) -> dict:
    return call(stack.url, "POST", f"/api/v1/projects/{name}", raw=data, content_type="application/zip",
                token=stack.token)


def refused(stack: Stack, name: str, data: bytes) -> ApiFailure:
    with pytest.raises(ApiFailure) as info:
        upload(stack, name, data)
    return info.value


def make_zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return out.getvalue()


# (archive, project, flow, status Azkaban gives it)
AZKABAN_PROJECTS = [
    ("basicFlow20Project.zip", "basic", "basic", "SUCCEEDED"),
    ("embeddedFlow20Project.zip", "embedded", "embedded", "SUCCEEDED"),
    # JobA writes param1=1 from a script in the archive: JobB runs, JobC's condition is false, JobD (one_success)
    ("conditionalFlowProject.zip", "conditional", "sample", "SUCCEEDED"),
    ("sample_flow_01.zip", "sample", "shell_end", "SUCCEEDED"),  # Flow 1.0: bash ./sample_script.sh
]


@pytest.mark.parametrize(("archive", "project", "flow", "status"), AZKABAN_PROJECTS)
def test_azkaban_project_zips_upload_and_run_as_in_azkaban(stack: Stack, archive: str, project: str, flow: str,
                                                          status: str) -> None:
    answer = upload(stack, project, (PROJECTS / archive).read_bytes())
    assert flow in answer["flows"], answer
    execution = stack.wait_for(stack.submit(f"{project}/{flow}"), timeout=120)
    assert execution["status"] == status, execution["jobs"]
    assert execution["project"] == project and execution["archive"] == answer["archive"]
    if project == "conditional":
        assert {j["job"]: j["status"] for j in execution["jobs"]} == {
            "JobA": "SUCCEEDED", "JobB": "SUCCEEDED", "JobC": "SKIPPED", "JobD": "SUCCEEDED"}


def test_an_execution_runs_in_the_archive_it_pinned_and_versions_are_listed(stack: Stack) -> None:
    def version(n: int) -> bytes:
        return make_zip({"p.project": "azkaban-flow-version: 2.0\n", "data/value.txt": f"version {n}\n",
                         "show.flow": "nodes:\n  - name: show\n    type: command\n    config:\n"
                                      "      command: cat data/value.txt; touch left-behind\n"})

    first = upload(stack, "pinned", version(1))
    execution_id = stack.submit("pinned/show")
    second = upload(stack, "pinned", version(2))
    assert first["archive"] != second["archive"]
    done = stack.wait_for(execution_id)
    assert done["status"] == "SUCCEEDED" and done["archive"] == first["archive"]
    lines = stack.api("GET", f"/api/v1/executions/{execution_id}/jobs/show/logs")["lines"]
    assert [line["line"] for line in lines] == ["version 1"]
    again = stack.wait_for(stack.submit("pinned/show"))  # a new attempt gets a fresh copy: no left-behind file
    assert again["archive"] == second["archive"]
    assert [line["line"] for line in stack.api(
        "GET", f"/api/v1/executions/{again['execution_id']}/jobs/show/logs")["lines"]] == ["version 2"]
    shown = stack.api("GET", "/api/v1/projects/pinned")
    assert [u["archive_sha256"] for u in shown["uploads"]] == [second["archive"], first["archive"]]
    assert shown["flows"] == [{"flow": "show", "file": "show.flow"}]
    assert any(p["project"] == "pinned" for p in stack.api("GET", "/api/v1/projects")["projects"])


@pytest.mark.parametrize(("data", "status", "says"), [
    (b"this is not a zip", 400, "not a zip archive"),
    (make_zip({"../../evil.sh": "touch pwned", "a.flow": "nodes: [{name: a, type: noop}]"}), 400,
     "a path outside the project"),
    (make_zip({"readme.txt": "no flows here"}), 422, "no .flow file"),
    (make_zip({"p.project": "azkaban-flow-version: 2.0", "bad.flow": "nodes: [{name: a, dependsOn: [ghost]}]"}),
     422, "unknown dependency 'ghost'"),
    (make_zip({"x.job": "command=true"}), 422, "Job doesn't have type set 'x'"),
])
def test_bad_archives_are_refused_and_change_nothing(stack: Stack, data: bytes, status: int, says: str) -> None:
    failure = refused(stack, "hostile", data)
    assert failure.status == status, (failure.status, failure.message, failure.details)
    assert says in json.dumps(failure.details) or says in failure.message, failure.details
    with pytest.raises(ApiFailure) as info:
        stack.api("GET", "/api/v1/projects/hostile")
    assert info.value.status == 404


def test_an_invalid_flow_names_its_file(stack: Stack) -> None:
    failure = refused(stack, "twofiles", make_zip({
        "p.project": "azkaban-flow-version: 2.0", "good.flow": "nodes: [{name: a, type: noop}]",
        "sub/broken.flow": "nodes: [{name: a, type: command}]"}))
    assert failure.status == 422
    assert failure.details == [{"file": "sub/broken.flow", "message": "node 'a': a command job needs config.command"}]


def test_an_oversized_upload_is_refused_before_it_is_read(stack: Stack) -> None:
    host, port = urllib.parse.urlsplit(stack.url).hostname, urllib.parse.urlsplit(stack.url).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/projects/huge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/zip\r\n"
                     f"Authorization: Bearer {stack.token}\r\nContent-Length: 300000000\r\n\r\n".encode()
                     + b"PK" + b"\0" * 1000)
        received = b""
        while b"at most" not in received:  # headers and body may come in separate packets
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        answer = received.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "at most 268,435,456" in answer


def test_an_archive_is_served_by_its_hash_only(stack: Stack) -> None:
    answer = upload(stack, "served", (PROJECTS / "basicFlow20Project.zip").read_bytes())
    with pytest.raises(ApiFailure) as info:
        stack.api("GET", "/api/v1/archives/../../etc/passwd")
    assert info.value.status in (400, 404)
    with pytest.raises(ApiFailure) as info:
        stack.api("GET", "/api/v1/archives/" + "0" * 64)
    assert info.value.status == 404
    assert len(answer["archive"]) == 64
