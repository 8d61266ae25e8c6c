"""One record of the executions topic in, what it leads to out: the events to write and commands to send, the
record to forward to its key's partition, or the reason it goes to the dead-letter topic. Free of faust, so that
its one promise is tested alone: whatever a record does, including making the engine raise, stays with that record
and the rest of the batch goes on."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.codec.admission import Headers, Misplaced, Refused, admit
from engine.codec.partitioning import Placement
from engine.domain import events as ev
from engine.domain.commands import Command
from engine.domain.schedule.events import ScheduleEvent
from engine.kafka import PARTITIONER
from engine.processor.core import EngineCore

log = logging.getLogger("kafkaban.engine")
MAX_REASON = 2000


@dataclass(frozen=True)
class Forward:
    """A record to write again, unchanged, keyed by its entity's id: it lands on the partition that key maps to."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes | str | None]]
    home: int


def forward(misplaced: Misplaced, value: bytes | None, headers: Headers) -> Forward:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return Forward(misplaced.entity.encode(), value or b"", list(pairs), misplaced.home)


def origin(event: ev.Event | ScheduleEvent) -> str:
    """Who wrote a record, as near as it says: its kind of producer and, when it names one, the service that
    submitted or cancelled (the producer field alone is one of five kinds)."""
    payload = event.payload
    who = getattr(payload, "submitter", None) or getattr(payload, "requested_by", None)
    return f"{event.producer} ({who})" if who else event.producer


def warn_once(warned: set[str], misplaced: Misplaced) -> None:
    """Tell a producer's operators, once per producer, which partitioner to use."""
    producer = origin(misplaced.event)
    if producer in warned:
        return
    warned.add(producer)
    log.warning("producer %s writes records to other partitions than their keys' (%s); forwarding each to its "
                "key's partition. Produce with the murmur2 partitioner: partitioner=%s in librdkafka clients "
                "(confluent-kafka, Go, .NET), the default partitioner in Java's kafka-clients, no explicit "
                "partition", producer, misplaced.reason, PARTITIONER)


@dataclass
class Taken:
    events: list[ev.Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    dead_letter: str | None = None  # why the record is refused; None when it was handled
    forward: Forward | None = None  # set for a record on another partition than its key's


@dataclass
class Intake:
    core: EngineCore
    signing_key: bytes
    partitions: int  # of the executions topic: a key's partition depends on it
    registry_url: str | None = None
    warned: set[str] = field(default_factory=set)  # producers told which partitioner to use, once each

    def take(self, key: bytes | None, value: bytes | None, headers: Headers, partition: int, now: int) -> Taken:
        try:
            event = admit(key, value, headers, self.signing_key, self.registry_url,
                          Placement(partition, self.partitions))
            output = self.core.handle(event, partition, now)
        except Misplaced as exc:
            warn_once(self.warned, exc)
            return Taken(forward=forward(exc, value, headers))
        except Refused as exc:
            return Taken(dead_letter=exc.reason)
        except Exception as exc:  # a bug meeting an input: this record is set aside with the reason, not the batch
            log.exception("handling a record of partition %s failed", partition)
            return Taken(dead_letter=f"the engine failed on this record: {type(exc).__name__}: {exc}"[:MAX_REASON])
        if output.unknown_execution:
            return Taken(dead_letter=f"{event.type} for unknown execution {event.execution_id}")
        return Taken(events=output.events, commands=output.commands)
