"""The processor's in-memory core: what it keeps per execution is let go when the execution ends."""

from __future__ import annotations

from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.processor.core import EngineCore

T0 = 1_700_000_000_000
FLOW = load_flow("name: one\nnodes:\n  - {name: a, type: noop}\n")


def feed(core: EngineCore, execution_id: str, payload: ev.Payload, seq: int, producer: str = "worker") -> None:
    event = ev.Event(f"{execution_id}-{seq}", execution_id, T0 + seq, producer, payload)
    output = core.handle(event, 0, T0 + seq)
    for derived in output.events:  # as the processor reads its own events back
        core.handle(derived, 0, T0 + seq)


def start(core: EngineCore, execution_id: str) -> None:
    feed(core, execution_id, ev.ExecutionSubmitted("one", FLOW.version_hash(), FLOW, {}, "tester"), 1, "api")
    feed(core, execution_id, ev.JobStarted("a", 1, "w1"), 2)


def test_an_ended_execution_leaves_no_lease_and_the_others_keep_theirs():
    core = EngineCore()
    for execution_id in ("ex-1", "ex-2", "ex-3"):
        start(core, execution_id)
    assert core.renew("ex-1", "a", 1, T0 + 10) and core.renew("ex-2", "a", 1, T0 + 10)

    feed(core, "ex-1", ev.JobSucceeded("a", 1), 3)

    assert core.states["ex-1"].terminal
    assert not core.renew("ex-1", "a", 1, T0 + 20)  # its lease is gone
    assert core.renew("ex-2", "a", 1, T0 + 20) and core.renew("ex-3", "a", 1, T0 + 20)
    # nothing of it is due later either: no JobLost for an execution that ended
    assert [e for e in core.due(T0 + 10 ** 9) if e.execution_id == "ex-1"] == []
