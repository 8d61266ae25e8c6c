"""The one processing loop of the pure core, for executions and schedules alike: apply an incoming event, then
decide (``react``) and apply (``evolve``) everything it leads to, breadth first. A derived event that changes
nothing (made redundant by an earlier sibling) is dropped rather than logged."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar


class HasId(Protocol):
    event_id: str


S = TypeVar("S")
E = TypeVar("E", bound=HasId)
P = TypeVar("P")  # what react decides: event payloads
C = TypeVar("C")  # and commands


@dataclass
class Decisions(Generic[P, C]):
    """What ``react`` returns: the payloads of the events to append, and the commands to send."""

    events: list[P] = field(default_factory=list)
    commands: list[C] = field(default_factory=list)


@dataclass(frozen=True)
class Cascade(Generic[S, E]):
    state: S
    changed: bool  # False: the incoming event changed nothing (a duplicate, stale, or of an unknown entity)
    events: list[E] = field(default_factory=list)  # derived events, in the order they were applied
    commands: list[Any] = field(default_factory=list)


def cascade(state: S, event: E, now: int, evolve: Callable[[S, E], S],
            react: Callable[[S, E, int], Decisions[Any, Any]], derive: Callable[[E, int, Any, int], E]
            ) -> Cascade[S, E]:
    """``derive(cause, index, payload, now)`` makes the index-th event decided in reaction to ``cause``."""
    applied = evolve(state, event)
    if applied is state:
        return Cascade(state, changed=False)
    state = applied
    derived: list[E] = []
    commands: list[Any] = []
    pending: deque[E] = deque([event])
    while pending:
        cause = pending.popleft()
        if cause is not event:
            applied = evolve(state, cause)
            if applied is state:
                continue
            state = applied
            derived.append(cause)
        decisions = react(state, cause, now)
        commands += decisions.commands
        pending.extend(derive(cause, index, payload, now) for index, payload in enumerate(decisions.events))
    return Cascade(state, changed=True, events=derived, commands=commands)
