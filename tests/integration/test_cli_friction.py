"""What a new user met on the way, each fixed and kept fixed: logs from the CLI (embedded jobs too), readable error
details, checked status filters, exit codes that mean what they say, malformed JSON as a 400."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from tests.integration.stack import Stack
from tests.integration.test_api_cli import cli, error_of

EMBEDDED = """
name: talkative
nodes:
  - name: parent
    type: flow
    nodes:
      - name: child
        type: command
        config: {command: "echo first line; echo 'a second, to stderr' >&2; echo ünïcødé"}
"""


def test_logs_of_an_embedded_job_from_the_cli_and_the_api(stack: Stack) -> None:
    execution_id = stack.submit(definition=EMBEDDED)
    done = stack.wait_for(execution_id)
    assert done["status"] == "SUCCEEDED", done
    answer = stack.api("GET", f"/api/v1/executions/{execution_id}/jobs/parent/child/logs")
    # stdout and stderr are two pipes: their lines interleave in no fixed order
    assert sorted(line["line"] for line in answer["lines"]) == sorted(["first line", "a second, to stderr",
                                                                       "ünïcødé"])
    shown = cli(stack, "logs", execution_id, "parent/child")
    assert shown.returncode == 0, shown.stderr
    assert "stdout: first line" in shown.stdout and "stderr: a second, to stderr" in shown.stdout
    followed = cli(stack, "logs", execution_id, "parent/child", "--follow", "--attempt", "1", "--json")
    assert followed.returncode == 0, followed.stderr
    assert {json.loads(line)["line"] for line in followed.stdout.splitlines()} == {
        "first line", "a second, to stderr", "ünïcødé"}
    missing = cli(stack, "logs", execution_id, "parent/nobody")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_error_details_are_printed_as_text(stack: Stack, tmp_path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text("name: broken\nnodes: [{name: a, type: command, config: {command: 'true'}, dependsOn: [ghost]}]\n")
    answer = cli(stack, "flow", "register", str(flow))
    assert answer.returncode == 2
    assert "{" not in answer.stderr and "a: " in answer.stderr and "ghost" in answer.stderr, answer.stderr


def test_status_filters_are_checked(stack: Stack) -> None:
    refused = cli(stack, "executions", "--status", "DONE")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
    assert cli(stack, "executions", "--status", "succeeded").returncode == 0  # any case
    bad = error_of(lambda: stack.api("GET", "/api/v1/executions?status=DONE"))
    assert bad.status == 400 and "unknown status" in bad.message


def test_cancelling_an_ended_execution_is_a_failure_not_a_usage_error(stack: Stack) -> None:
    done = stack.wait_for(stack.submit(definition="nodes: [{name: a, type: noop}]"))
    answer = cli(stack, "cancel", done["execution_id"])
    assert answer.returncode == 1 and "already ended" in answer.stderr


@pytest.mark.parametrize("body", [b"{not json", b'{"flow": "x",}', b"\xff\xfe"])
def test_malformed_json_is_a_400(stack: Stack, body: bytes) -> None:
    request = urllib.request.Request(stack.url + "/api/v1/executions", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {stack.token}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read())["error"]["message"] == "malformed request"


def test_a_job_dispatched_to_a_pool_without_workers_says_so(stack: Stack) -> None:
    execution_id = stack.submit(definition="nodes: [{name: lonely, type: noop, pool: nowhere}]")
    execution = stack.wait_for(execution_id, {"DISPATCHED"}, job="lonely")
    assert stack.job(execution, "lonely")["waiting"] == "no worker in pool nowhere", execution
    shown = cli(stack, "status", execution_id)
    assert "DISPATCHED" in shown.stdout and "waiting: no worker in pool nowhere" in shown.stdout, shown.stdout
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel")
    assert stack.wait_for(execution_id)["status"] == "CANCELLED"
    default = stack.wait_for(stack.submit(definition="nodes: [{name: a, type: noop}]"))
    assert "waiting" not in stack.job(default, "a")  # the default pool has a live worker


def test_flows_lists_registered_flows_and_project_flows(stack: Stack) -> None:
    from tests.integration.test_projects import PROJECTS, upload

    name = f"listed{uuid.uuid4().hex[:6]}"
    registered = stack.register(f"name: {name}\nnodes: [{{name: a, type: noop}}, {{name: b, type: noop}}]\n")
    ran = stack.wait_for(stack.submit(flow=name))
    project = f"proj{uuid.uuid4().hex[:6]}"
    uploaded = upload(stack, project, (PROJECTS / "basicFlow20Project.zip").read_bytes())

    listed = cli(stack, "flows", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["flows"]}
    assert rows[name]["version"] == registered["version"] and rows[name]["jobs"] == 2
    assert rows[name]["last_run"]["execution_id"] == ran["execution_id"]
    assert rows[f"{project}/basic"]["project"] == project and rows[f"{project}/basic"]["last_run"] is None
    assert rows[f"{project}/basic"]["version"] == uploaded["archive"]

    table = cli(stack, "flows")
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert table.stdout.split()[:4] == ["FLOW", "VERSION", "JOBS", "LAST"]
    assert f"SUCCEEDED {ran['submitted_at']}" in lines[name] and registered["version"][:19] in lines[name]
    assert "never run" in lines[f"{project}/basic"]


def test_the_docs_pages_load_everything_from_the_api_itself(stack: Stack) -> None:
    """/docs and /redoc stayed blank offline: their scripts came from a CDN. Now every file they name is the
    API's own, served without an identity like /openapi.json."""
    import re

    def get(path: str) -> tuple[str, bytes]:
        with urllib.request.urlopen(stack.url + path, timeout=30) as answer:  # no token: public
            return answer.headers["Content-Type"].split(";")[0], answer.read()

    def named(text: str) -> list[tuple[str, str]]:
        """(what, url) of each file the page loads: its scripts, and its links' (stylesheet, icon)."""
        found = [("script", url) for url in re.findall(r'<script[^>]* src="([^"]+)"', text)]
        for tag in re.findall(r"<link[^>]*>", text):
            rel, href = re.search(r'rel="([^"]+)"', tag), re.search(r'href="([^"]+)"', tag)
            assert rel and href, tag
            found.append((rel[1].split()[-1], href[1]))
        return found

    kinds = {"script": ("text/javascript", "application/javascript"), "stylesheet": ("text/css",),
             "icon": ("image/png",)}
    for page, wanted in (("/docs", {"script", "stylesheet", "icon"}), ("/redoc", {"script", "icon"})):
        kind, body = get(page)
        text = body.decode()
        assert kind == "text/html" and not re.search(r"https?://", text), text
        assert {what for what, _ in named(text)} == wanted, text
        for what, url in named(text):
            assert url.startswith("/docs/assets/"), url
            served, asset = get(url)
            assert served in kinds[what] and len(asset) > 500, (url, served)
        assert re.search(r"""(url: |spec-url=)['"]/openapi\.json['"]""", text), text
    assert get("/openapi.json")[0] == "application/json"
