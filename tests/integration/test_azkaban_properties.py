"""Azkaban properties on a real worker: flow, embedded flow and job config resolved with runtime params on top,
built-ins, multi-command jobs, env.* and working.dir; an output file that is not JSON is a warning."""

from __future__ import annotations

from tests.integration.stack import Stack

FLOW = """
config:
  greeting: hello
  target: ${region}-bucket
  region: eu
nodes:
  - name: outer
    type: flow
    config:
      region: us
    nodes:
      - name: inner
        type: command
        config:
          env.MESSAGE: ${greeting} from ${azkaban.job.id} in ${azkaban.flow.flowid}
          working.dir: scratch
          command: echo "$MESSAGE" > message.txt
          command.1: >-
            printf '{"target": "%s", "day": "%s", "dir": "%s"}' ${target} ${day} "$(basename $PWD)"
            > "$KAFKABAN_OUTPUT_FILE"
          command.2: cat message.txt
  - name: sloppy
    type: command
    config:
      command: echo "not json" > "$KAFKABAN_OUTPUT_FILE"
"""


def test_properties_resolve_with_azkabans_precedence_on_a_worker(stack: Stack) -> None:
    execution_id = stack.submit(definition=FLOW, day="2026-11-29", greeting="hi")
    execution = stack.wait_for(execution_id)
    assert execution["status"] == "SUCCEEDED", execution["jobs"]
    inner = stack.job(execution, "outer/inner")
    # the embedded flow's region beats the flow's; the submitted greeting beats the config's
    assert inner["outputs"] == {"target": "us-bucket", "day": "2026-11-29", "dir": "scratch"}
    lines = stack.api("GET", f"/api/v1/executions/{execution_id}/jobs/outer/inner/logs")["lines"]
    assert [line["line"] for line in lines] == ["hi from inner in inline"]  # an inline flow is named "inline"
    sloppy = stack.job(execution, "sloppy")
    assert sloppy["status"] == "SUCCEEDED" and sloppy["outputs"] == {}
    warned = stack.api("GET", f"/api/v1/executions/{execution_id}/jobs/sloppy/logs")["lines"]
    assert any("warning: outputs ignored" in line["line"] for line in warned), warned
