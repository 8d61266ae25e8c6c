"""A service written in Java by another team, on the real broker of a test stack: it takes only the README's rules
for other languages and the current executions schema file (tests/java/example/billing/SubmitAndCancel.java, with
kafka-clients' defaults and Apache Avro), submits an execution whose job sleeps, and cancels it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import schemas
from engine.codec.partitioning import partition_for
from tests.integration.stack import Stack
from tests.integration.test_history import caught_up, cli
from tests.support.java import JavaProgram


class JavaService:
    """SubmitAndCancel running: what it printed of each record it wrote, and its stderr for failure messages."""

    def __init__(self, program: JavaProgram, log: Path, *args: str) -> None:
        self.log = log
        self._stderr = open(log, "w")  # a file, not a pipe: kafka-clients' warnings must never block it
        self.process = subprocess.Popen(program.command("example.billing.SubmitAndCancel", *args),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                        text=True)

    def written(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the Java service wrote nothing (exit {self.process.poll()}):\n{self.log.read_text()}"
        return dict(json.loads(line))

    def cancel(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("cancel\n")
        self.process.stdin.flush()
        return self.written()

    def close(self) -> int:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self._stderr.close()


@pytest.fixture
def java_service(java_producer: JavaProgram, tmp_path: Path) -> Iterator[Any]:
    started: list[JavaService] = []

    def start(*args: str) -> JavaService:
        started.append(JavaService(java_producer, tmp_path / f"java-{len(started)}.log", *args))
        return started[-1]

    yield start
    for service in started:
        service.close()


def submit_run_and_cancel(stack: Stack, service: JavaService) -> str:
    """The service's submission starts, its cancel ends it CANCELLED; the id of that execution."""
    submitted = service.written()
    execution_id = submitted["execution_id"]
    # kafka-clients' default partitioner put it where Kafkaban folds it: nothing to forward
    assert submitted["partition"] == partition_for(execution_id.encode(), stack.settings.partitions)
    running = stack.wait_for(execution_id, {"RUNNING"}, job="sleep")
    assert running["status"] == "RUNNING"
    assert (running["flow_name"], running["submitter"]) == ("billing-sleep", "billing-service"), running
    cancelled = service.cancel()
    assert (cancelled["execution_id"], cancelled["partition"]) == (execution_id, submitted["partition"])
    assert service.close() == 0, service.log.read_text()
    ended = stack.wait_for(execution_id)
    assert ended["status"] == "CANCELLED", ended
    assert stack.job(ended, "sleep")["status"] == "CANCELLED"
    return execution_id


def test_a_java_service_submits_and_cancels_by_the_rules_for_other_languages(stack: Stack, java_service: Any):
    current = schemas.path("executions")  # the version Kafkaban writes, as the README tells another team to use
    service = java_service(stack.settings.bootstrap, stack.settings.executions_topic, str(current))
    execution_id = submit_run_and_cancel(stack, service)

    history = cli(stack, "history", execution_id, "--json")
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)["events"]
    written = [(e["type"], e["producer"]) for e in events if e["producer"] == "external"]
    assert written == [("ExecutionSubmitted", "external"), ("CancelRequested", "external")], events
    assert events[-1]["type"] == "ExecutionCancelled"
    caught_up(stack)
    verified = cli(stack, "replay", "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["mismatches"] == [] and report["executions"] >= 1, report
