"""The processor's in-memory core: what it keeps per execution is let go when the execution ends."""

from __future__ import annotations

from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.processor.core import TAKEOVER_GRACE_MS, EngineCore

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


def submit(core: EngineCore, execution_id: str, now: int = T0) -> list:  # type: ignore[type-arg]
    event = ev.Event(f"{execution_id}-submit", execution_id, now, "api",
                     ev.ExecutionSubmitted("one", FLOW.version_hash(), FLOW, {}, "tester"))
    output = core.handle(event, 0, now)
    for derived in output.events:
        core.handle(derived, 0, now)
    return output.commands


def test_a_dispatch_not_started_by_its_deadline_is_sent_again_with_a_growing_wait():
    core = EngineCore(dispatch_timeout_ms=1_000)
    [first] = submit(core, "ex-1")
    assert core.resend_due(T0 + 999) == []
    [again] = core.resend_due(T0 + 1_000)
    assert again == first  # the same attempt: workers drop what they hold, the engine fences by attempt
    assert core.resend_due(T0 + 2_999) == []  # the wait doubled
    assert core.resend_due(T0 + 3_000) == [first]


def test_a_started_or_ended_attempt_is_not_sent_again():
    core = EngineCore(dispatch_timeout_ms=1_000)
    submit(core, "ex-1")
    feed(core, "ex-1", ev.JobStarted("a", 1, "w1"), 2)
    submit(core, "ex-2")
    feed(core, "ex-2", ev.CancelRequested("tester", None), 3, "api")
    assert core.states["ex-2"].terminal
    assert core.resend_due(T0 + 10 ** 9) == []


def test_taking_over_partitions_sends_again_what_the_previous_owner_may_not_have_sent():
    previous = EngineCore()
    [dispatch] = submit(previous, "ex-1")
    submit(previous, "ex-2")
    feed(previous, "ex-2", ev.JobStarted("a", 1, "w1"), 2)  # running: its worker has it, nothing to resend
    rebuilt = EngineCore()
    for state in previous.states.values():
        rebuilt.states[state.execution_id] = state
        rebuilt.partition_of[state.execution_id] = 0
    taker = EngineCore()
    assert taker.adopt(rebuilt, {0}, T0 + 5) == []  # nothing at once: its JobStarted may be in the unread records
    assert taker.resend_due(T0 + 5 + TAKEOVER_GRACE_MS) == [dispatch]  # still not started after the grace
    other = EngineCore()
    other.adopt(rebuilt, {0}, T0 + 5)
    feed(other, "ex-1", ev.JobStarted("a", 1, "w2"), 6)  # read past the committed offset: it had started
    assert other.resend_due(T0 + 10 ** 9) == []
    assert EngineCore().adopt(rebuilt, {1}, T0 + 5) == []  # not this instance's partition
