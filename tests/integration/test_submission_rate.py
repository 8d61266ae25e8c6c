"""A principal's submissions are a token bucket (KAFKABAN_SUBMIT_RATE a second, KAFKABAN_SUBMIT_BURST at once):
past it, a 429 with Retry-After, and nothing is written. Another principal has a bucket of its own."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.client import ApiFailure, call
from tests.integration.stack import Stack

NOOP = "nodes: [{name: a, type: noop}]"


@pytest.fixture(scope="module")
def slow_stack(bootstrap: str, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(bootstrap, new_database(), Path(tmp_path_factory.mktemp("rate-logs")),
                    extra_env={"KAFKABAN_SUBMIT_RATE": "0.01", "KAFKABAN_SUBMIT_BURST": "3"})
    running.start(("projector", "api"))  # submissions only need to be written and projected
    try:
        yield running
    finally:
        running.stop()


def test_submissions_past_the_burst_are_429_with_retry_after_and_write_nothing(slow_stack: Stack):
    accepted = [slow_stack.api("POST", "/api/v1/executions", {"definition": NOOP})["execution_id"] for _ in range(3)]
    with pytest.raises(ApiFailure) as limited:
        slow_stack.api("POST", "/api/v1/executions", {"definition": NOOP})
    assert limited.value.status == 429 and "slow down" in limited.value.message
    url = urlsplit(slow_stack.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("POST", "/api/v1/executions", json.dumps({"definition": NOOP}),
                       {"Authorization": f"Bearer {slow_stack.token}", "Content-Type": "application/json"})
    answer = connection.getresponse()
    assert answer.status == 429 and int(answer.getheader("Retry-After")) >= 1  # when to come back
    connection.close()
    listed = slow_stack.api("GET", "/api/v1/executions?limit=100")["executions"]
    assert sorted(e["execution_id"] for e in listed) == sorted(accepted)
    # the bucket is the principal's: another user still submits
    slow_stack.api("POST", "/api/v1/users", {"name": "other", "password": "a long password", "roles": ["ADMIN"]})
    token = slow_stack.api("POST", "/api/v1/tokens", {"user": "other"})["token"]
    assert call(slow_stack.url, "POST", "/api/v1/executions", {"definition": NOOP}, token=token)["submitter"] == "other"

