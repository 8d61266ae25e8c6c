"""A worker given job type plugins runs jobs of those types; a job of a type no worker of its pool runs fails with
that reason instead of waiting forever; registering such a flow warns."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.integration.stack import Stack

FLOW = """
name: plugged
nodes:
  - {name: greet, type: greet, pool: plugins, config: {who: "${name}"}}
  - {name: spark, type: spark, pool: plugins, dependsOn: [greet], config: {class: Main}}
"""


def test_plugin_types_run_and_unknown_types_fail_with_the_reason(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "greet").mkdir()
    (tmp_path / "greet" / "plugin.properties").write_text(
        "# an Azkaban-style job type: a command template\n"
        "command=printf '{\"said\": \"%s\"}' \"hello, ${who}\" > \"$KAFKABAN_OUTPUT_FILE\"\n")
    worker = stack.spawn("plugin-worker", "worker", "--pool", "plugins", "--slots", "2", "--jobtypes", str(tmp_path))
    try:
        registered = stack.register(FLOW)
        assert [w["message"] for w in registered["warnings"]] == [
            "job type 'greet' is not built in (built in: command, noop, python, flow): it runs only on a worker "
            "with a plugin for it",
            "${name} in who is not defined by any config or declared param: it must be given as a param at "
            "submission",
            "job type 'spark' is not built in (built in: command, noop, python, flow): it runs only on a worker "
            "with a plugin for it"]
        execution = stack.wait_for(stack.submit("plugged", name="$(touch pwned)"), timeout=90)
        assert execution["status"] == "FAILED", execution
        assert stack.job(execution, "greet")["outputs"] == {"said": "hello, $(touch pwned)"}
        spark = stack.job(execution, "spark")
        assert spark["status"] == "FAILED"
        assert "unknown job type 'spark': no plugin for it on this worker of pool plugins" in spark["error"]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
