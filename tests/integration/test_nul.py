"""A NUL character wherever the log can carry one: the projector stores it (shown as U+2400) and goes on, the API
refuses it in names and ids with a 400 before anything is written, and a job whose command would carry one
fails with the reason instead of taking its worker down."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer

from engine.client import ApiFailure
from engine.clock import now_ms
from engine.codec import encode_event
from engine.domain import events as ev
from engine.domain.ids import execution_id_for_key
from engine.domain.loader import load_flow
from engine.kafka import producer_config
from projections.verify import verify
from tests.integration.stack import Stack

SHOWN = "\u2400"
NOISY = r"""name: noisy
nodes:
  - name: talk
    type: command
    config:
      command: >-
        printf 'out\000line\n'; printf 'err\000line\n' >&2; printf '\377\376 binary\n';
        printf '{"k\\u0000ey": "v\\u0000al"}' > "$KAFKABAN_OUTPUT_FILE"
"""
FLOW = load_flow(NOISY)


def produce_submission(stack: Stack, execution_id: str, params: dict[str, str], submitter: str = "tests",
                       key: str | None = None) -> None:
    event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "external",
                     ev.ExecutionSubmitted(FLOW.name, FLOW.version_hash(), FLOW, params, submitter, key))
    producer = Producer(producer_config(stack.settings))
    producer.produce(stack.settings.executions_topic, key=execution_id.encode(), value=encode_event(event))
    producer.flush(10)


def listed(stack: Stack, flow: str, count: int, timeout: float = 90) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    found: list[dict] = []  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        found = [e for e in stack.api("GET", f"/api/v1/executions?flow={flow}&limit=100")["executions"]
                 if e["status"] in ("SUCCEEDED", "FAILED", "CANCELLED", "REJECTED")]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{len(found)} of {count} executions of {flow} ended and were projected:\n{stack.logs()}")


@pytest.mark.parametrize("body", [
    {"definition": "nodes: [{name: a, type: noop}]", "submitter": "a\x00b"},
    {"definition": "nodes: [{name: a, type: noop}]", "idempotency_key": "k\x00"},
    {"definition": "nodes: [{name: a, type: noop}]", "params": {"p\x00": "v"}},
    {"flow": "noisy\x00", "params": {}},
], ids=["submitter", "idempotency key", "param name", "flow name"])
def test_a_nul_in_a_name_or_id_is_a_400_and_nothing_is_written(stack: Stack, body: dict):  # type: ignore[type-arg]
    before = stack.api("GET", "/api/v1/executions?limit=100")["executions"]
    with pytest.raises(ApiFailure) as refused:
        stack.api("POST", "/api/v1/executions", body)
    assert refused.value.status == 400 and "NUL" in str(refused.value.details), refused.value.details
    assert stack.api("GET", "/api/v1/executions?limit=100")["executions"] == before


def test_nuls_from_every_way_in_are_stored_and_the_projector_goes_on(stack: Stack):
    stack.register(NOISY)
    # straight to Kafka, where nothing checks them: submitter, idempotency key, a param's name and value, the id
    ids = [str(uuid.uuid4()) for _ in range(3)] + [f"nul\x00id-{uuid.uuid4()}"]
    produce_submission(stack, ids[0], {}, submitter="svc\x00x")
    ids[1] = execution_id_for_key(FLOW.name, "key\x00")
    produce_submission(stack, ids[1], {}, key="key\x00")
    produce_submission(stack, ids[2], {"na\x00me": "val\x00ue"})
    produce_submission(stack, ids[3], {})
    # through the API, where values may carry NUL: a param value, and a cancel reason
    via_api = stack.submit("noisy", who="x\x00y")
    sleeper = stack.submit(definition="name: nul-cancel\nnodes: [{name: s, type: command, config: {command: "
                                      "'sleep 30'}}]")
    stack.wait_for(sleeper, {"RUNNING"}, job="s", timeout=60)
    stack.api("POST", f"/api/v1/executions/{sleeper}/cancel", {"reason": "because\x00"})

    ended = {e["execution_id"]: e for e in listed(stack, "noisy", 5)}
    # a NUL cannot reach a process: the executions whose params or id hold one fail their job with that reason
    refused = {ids[2], via_api}
    assert ended.pop(ids[3].replace("\x00", SHOWN))["status"] == "FAILED"  # its id holds one too
    assert {k: e["status"] for k, e in ended.items() if k not in refused} == {
        k: "SUCCEEDED" for k in ended if k not in refused}
    for execution_id in refused:
        failed = stack.execution(execution_id)
        assert failed is not None and failed["status"] == "FAILED"
        assert "holds a NUL character" in stack.job(failed, "talk")["error"]
    first = stack.execution(ids[0])
    assert first is not None and first["submitter"] == f"svc{SHOWN}x"
    assert stack.execution(ids[1])["idempotency_key"] == f"key{SHOWN}"  # type: ignore[index]
    assert stack.execution(ids[2])["params"] == {f"na{SHOWN}me": f"val{SHOWN}ue"}  # type: ignore[index]
    assert stack.execution(via_api)["params"]["who"] == f"x{SHOWN}y"  # type: ignore[index]
    # a job's output lines, binary output and outputs with NUL
    assert stack.job(first, "talk")["outputs"] == {f"k{SHOWN}ey": f"v{SHOWN}al"}
    lines = [line["line"] for line in stack.api("GET", f"/api/v1/executions/{ids[0]}/jobs/talk/logs")["lines"]]
    assert f"out{SHOWN}line" in lines and f"err{SHOWN}line" in lines, lines
    assert any(line.endswith(" binary") for line in lines), lines
    cancelled = stack.wait_for(sleeper, timeout=60)
    assert cancelled["status"] == "CANCELLED"

    # the projector is still going: a plain execution after all of that is projected
    after = stack.wait_for(stack.submit(definition="nodes: [{name: a, type: noop}]"))
    assert after["status"] == "SUCCEEDED"
    report = verify(stack.settings)
    assert report.ok, report.mismatches
