"""`replay verify` does not pass on views that match the log only up to a point far behind it: with the projector
dead while work goes on, it reports the lag and fails; once the projector is back and caught up, it passes."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from projections.verify import verify
from tests.integration.stack import Stack


def test_verify_fails_while_the_projector_is_dead_and_behind(bootstrap: str, new_database: object, tmp_path: Path):
    stack = Stack(bootstrap, new_database(), tmp_path)  # type: ignore[operator]
    stack.start()
    try:
        first = stack.submit(definition="nodes: [{name: a, type: noop}]")
        stack.wait_for(first)
        assert verify(stack.settings, max_lag=0).ok

        projector = stack.processes["projector"]
        projector.send_signal(signal.SIGKILL)
        projector.wait()
        # each answer waits its read-your-writes bound for a projector that is not there: sent at once
        with ThreadPoolExecutor(5) as pool:
            ids = list(pool.map(lambda _: stack.api("POST", "/api/v1/executions", {
                "definition": "nodes: [{name: a, type: noop}]"})["execution_id"], range(5)))
        # every submission leads to at least its own event and the engine's decisions: well past 5 records
        report = verify(stack.settings, max_lag=5)
        assert not report.ok and report.lagging and report.lag > 5 and not report.mismatches, report
        cli = subprocess.run([sys.executable, "-m", "engine.cli", "replay", "verify", "--max-lag", "5"],
                             env=stack.env, capture_output=True, text=True, timeout=120)
        assert cli.returncode != 0 and "NOT verified" in cli.stdout, cli.stdout + cli.stderr

        stack.spawn("projector", "projector")
        for execution_id in ids:
            assert stack.wait_for(execution_id, timeout=60)["status"] == "SUCCEEDED"
        report = verify(stack.settings, max_lag=5)
        assert report.ok and report.lag <= 5, report
    finally:
        stack.stop()
