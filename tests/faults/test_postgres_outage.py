"""PostgreSQL stopped under load: the projector waits and retries (saying so on /healthz and /metrics), the API
answers reads with a JSON 503 and Retry-After and takes submissions whose event reached Kafka (202), and when the
database returns every execution is projected from exactly the committed positions and replay verify passes."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pgserver  # type: ignore[import-untyped]
import pytest

from engine.client import ApiFailure
from projections.verify import verify
from tests.integration.stack import Stack
from tests.support.waiting import wait_until

FLOW = """
name: steady
nodes:
  - {name: a, type: command, config: {command: "sleep 0.2"}}
  - {name: b, type: command, config: {command: "sleep 0.2"}, dependsOn: [a]}
"""


class Database:
    """A PostgreSQL of this test's own, to stop and start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = pgserver.get_server(str(directory), cleanup_mode="stop")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        self.server.cleanup()

    def start(self) -> None:
        self.server = pgserver.get_server(str(self.directory), cleanup_mode="stop")


@pytest.fixture()
def database(tmp_path: Path) -> Iterator[Database]:
    running = Database(tmp_path / "pg")
    try:
        yield running
    finally:
        running.stop()


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_postgres_stopped_under_load_nothing_is_lost_and_every_answer_says_what_happened(
        bootstrap: str, database: Database, tmp_path: Path):
    stack = Stack(bootstrap, database.url, tmp_path)
    stack.start()
    try:
        stack.register(FLOW)
        before = [stack.submit("steady") for _ in range(10)]
        projector = f"http://127.0.0.1:{stack.projector_port}"
        assert get(f"{projector}/healthz")[0] == 200

        database.stop()
        # reads: a JSON 503 that says when to come back
        status, headers, body = get(f"{stack.url}/api/v1/executions/{before[0]}", stack.token)
        assert status == 503 and headers.get("retry-after") == "5", (status, headers, body)
        assert json.loads(body)["error"]["status"] == 503 and "PostgreSQL" in json.loads(body)["error"]["message"]
        assert get(f"{stack.url}/healthz")[0] == 503
        # a submission whose event reached Kafka is accepted: its id is the client's to follow, not to resubmit
        during = stack.api("POST", "/api/v1/executions", {"definition": FLOW, "params": {}})
        assert during["status"] == "SUBMITTED" and during["projected"] is False
        # a named flow cannot be resolved without the views: refused, and nothing written
        with pytest.raises(ApiFailure) as refused:
            stack.submit("steady")
        assert refused.value.status == 503
        # the projector says it waits, and for how long
        status, _, body = wait_until(lambda: (found := get(f"{projector}/healthz"))[0] == 503 and found, 30,
                               "the projector reported no outage")
        assert json.loads(body)["writing"] is False and json.loads(body)["failures"] >= 1
        assert "kafkaban_projector_up 0" in get(f"{projector}/metrics")[2].decode()
        time.sleep(8)  # work goes on in Kafka meanwhile
        assert stack.processes["projector"].poll() is None, stack.log("projector")

        database.start()
        for execution_id in [*before, during["execution_id"]]:
            assert stack.wait_for(execution_id, timeout=120)["status"] == "SUCCEEDED"
        assert get(f"{projector}/healthz")[0] == 200
        metrics = get(f"{projector}/metrics")[2].decode()
        assert "kafkaban_projector_up 1" in metrics
        assert stack.log("projector").count("cannot write to PostgreSQL") == 1, stack.log("projector")
        report = verify(stack.settings)
        assert report.ok, report.mismatches
    finally:
        stack.stop()
