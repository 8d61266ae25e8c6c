"""One record of the executions topic in, what it leads to out: the events to write and commands to send, or the
reason it goes to the dead-letter topic. Free of faust, so that its one promise is tested alone: whatever a record
does, including making the engine raise, stays with that record and the rest of the batch goes on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.codec.admission import Headers, Refused, admit
from engine.domain import events as ev
from engine.domain.commands import Command
from engine.processor.core import EngineCore

log = logging.getLogger("kafkaban.engine")
MAX_REASON = 2000
EXIT_UNWRITTEN = 75  # EX_TEMPFAIL: a batch's results could not be written; restarting is the remedy


@dataclass
class Taken:
    events: list[ev.Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    dead_letter: str | None = None  # why the record is refused; None when it was handled


@dataclass
class Intake:
    core: EngineCore
    signing_key: bytes
    registry_url: str | None = None

    def take(self, key: bytes | None, value: bytes | None, headers: Headers, partition: int, now: int) -> Taken:
        try:
            event = admit(key, value, headers, self.signing_key, self.registry_url)
            output = self.core.handle(event, partition, now)
        except Refused as exc:
            return Taken(dead_letter=exc.reason)
        except Exception as exc:  # a bug meeting an input: this record is set aside with the reason, not the batch
            log.exception("handling a record of partition %s failed", partition)
            return Taken(dead_letter=f"the engine failed on this record: {type(exc).__name__}: {exc}"[:MAX_REASON])
        if output.unknown_execution:
            return Taken(dead_letter=f"{event.type} for unknown execution {event.execution_id}")
        return Taken(events=output.events, commands=output.commands)
