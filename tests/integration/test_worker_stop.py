"""SIGTERM to a worker: running attempts finish, or are handed back, never dropped silently."""

from __future__ import annotations

import signal

from tests.integration.stack import Stack


def test_sigterm_lets_a_running_attempt_finish(stack: Stack):
    worker = stack.spawn("worker-drain", "worker", "--pool", "drain", "--slots", "2")
    execution_id = stack.submit(definition="""
name: drained
nodes:
  - {name: short, type: command, pool: drain, config: {command: "sleep 2; echo finished"}}
""")
    stack.wait_for(execution_id, {"RUNNING"}, job="short", timeout=60)
    worker.send_signal(signal.SIGTERM)
    execution = stack.wait_for(execution_id, timeout=30)
    assert execution["status"] == "SUCCEEDED"
    assert worker.wait(30) == 0


def test_sigterm_hands_back_an_attempt_that_outlives_the_drain(stack: Stack):
    worker = stack.spawn("worker-handback-1", "worker", "--pool", "handback", "--slots", "1")
    execution_id = stack.submit(definition="""
name: handed-back
nodes:
  - name: long
    type: command
    pool: handback
    lease: 3s
    config:
      command: if [ "$KAFKABAN_ATTEMPT" = 1 ]; then exec sleep 60; fi; echo attempt $KAFKABAN_ATTEMPT
""")
    stack.wait_for(execution_id, {"RUNNING"}, job="long", timeout=60)
    worker.send_signal(signal.SIGTERM)  # drain timeout is 5 s in the test stack
    assert worker.wait(30) == 0
    stack.spawn("worker-handback-2", "worker", "--pool", "handback", "--slots", "1")
    execution = stack.wait_for(execution_id, timeout=90)
    assert execution["status"] == "SUCCEEDED"
    runs = stack.job(execution, "long")["attempts"]
    assert runs[0]["status"] == "FAILED" and "lease expired" in runs[0]["error"]
    assert runs[-1]["status"] == "SUCCEEDED"
