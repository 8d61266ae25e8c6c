"""The engine's schedules: an agent on the schedules topic, a timer that writes due ticks, and the edge that
carries out what schedules decide (start an execution, stop one) on the executions topic.

A fired tick's submission is written with the execution id the core derived from (schedule id, logical time):
the executions core keeps the first submission of an id and ignores any other, so a tick decided twice (a
crash, two instances during a rebalance) still starts one execution. A batch's results are written before
faust acks it; when they cannot be, the engine exits and the batch is read again (``outbox.write_or_exit``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from engine.clock import iso_from_ms, now_ms
from engine.codec import encode_event
from engine.codec.admission import Misplaced, Refused, admit_schedule, signed
from engine.codec.partitioning import Placement
from engine.codec.schedule_records import encode_schedule_event
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import ReportRunEnded
from engine.domain.ids import command_id, run_ended_id
from engine.domain.schedule import events as se
from engine.domain.schedule.commands import ScheduleCommand, StartExecution, StopExecution
from engine.kafka import fits_in_a_record
from engine.log_reader import partitions_of
from engine.processor.catalog import CatalogReader, Resolved
from engine.processor.dependency_watch import DependencyWatch
from engine.processor.intake import MAX_REASON, forward, warn_once
from engine.processor.outbox import Send, SendAll, write_or_exit
from engine.processor.own_records import OwnRecords
from engine.processor.partitions import PartitionOwner, Then
from engine.processor.refold import rebuild_schedules
from engine.processor.schedule_core import ScheduleCore, ScheduleOutput
from engine.processor.written_ticks import WrittenTicks

log = logging.getLogger("kafkaban.engine")
DeadLetter = Callable[[Any, str], Send]
# a batch pays two produce round trips (decisions, then the submissions they start): at the minute thousands of
# ticks are due at once, and batches gathered over a few milliseconds held a few dozen each, so the burst was
# bound by round trips; gathered over 50 ms they hold hundreds (a lone trigger waits at most that much longer)
BATCH_SIZE = 2000
BATCH_WINDOW_S = 0.05
TIMER_S = 0.1
WATCH_S = 0.5
TICKS_FIRST_S = 2.0  # how long other work may wait, per burst, for due ticks to be decided
# what makes a burst: ticks spread over the minute (a jitter) come a few dozen per timer call, and holding the
# executions for each of those halved their pace on one engine
BURST_TICKS = 200
YIELD_S = 0.005


def run_ended_event(report: ReportRunEnded, now: int) -> se.ScheduleEvent:
    return se.ScheduleEvent(run_ended_id(report.schedule_id, report.execution_id), report.schedule_id, now,
                            "engine", se.ScheduleRunEnded(report.execution_id, report.logical_time, report.status,
                                                          report.detail))


def scheduled_params(command: StartExecution) -> dict[str, str]:
    """The params every scheduled execution gets (the schedule's own params win over them)."""
    return {"kafkaban.schedule.id": command.schedule_id, "kafkaban.logical_time": iso_from_ms(command.logical_time)}


class ScheduleEdge:
    """Turns schedule decisions into records: signed schedule events, and submissions or cancels of executions."""

    def __init__(self, settings: Settings, executions: faust.TopicT, schedules: faust.TopicT,
                 signing_key: bytes, core: ScheduleCore) -> None:
        self.settings = settings
        self.executions = executions
        self.schedules = schedules
        self.signing_key = signing_key
        self.catalog = CatalogReader(settings)
        self.core = core
        self._held_since: float | None = None

    async def ticks_first(self) -> None:
        """Let due ticks be decided before the caller goes on: at the minute, thousands of schedules may be due at
        once, and starting them on time comes before moving the already running executions along. Waits at most
        TICKS_FIRST_S per burst, so a tick that cannot be read back (its partition moving) holds nothing up, and
        only while more than BURST_TICKS are unread."""
        while self.core.unread_ticks() > BURST_TICKS:
            now = time.monotonic()
            if self._held_since is None:
                self._held_since = now
            if now - self._held_since > TICKS_FIRST_S:
                return
            await asyncio.sleep(YIELD_S)
        self._held_since = None

    def schedule_event(self, event: se.ScheduleEvent) -> Send:
        value = encode_schedule_event(event, self.settings.schema_registry_url)
        return (self.schedules, event.schedule_id.encode(), value,
                [OwnRecords.header(event.event_id), *signed(value, self.signing_key)])

    async def carry_out(self, commands: list[ScheduleCommand], decided_at: int) -> list[Send]:
        """The records for ``commands``, decided by records written up to ``decided_at`` (ms): a start runs the
        flow as registered before then."""
        if not commands:
            return []
        starts = [c for c in commands if isinstance(c, StartExecution)]
        catalog = None
        if starts:
            catalog = self.catalog.known_by(decided_at) or await asyncio.to_thread(self.catalog.refresh)
        now = now_ms()
        out: list[Send] = []
        for command in commands:
            if isinstance(command, StopExecution):
                event = ev.Event(command_id("stop", command.execution_id, command.schedule_id, 0),
                                 command.execution_id, now, "scheduler",
                                 ev.CancelRequested(f"schedule {command.schedule_id}", command.reason))
                out.append((self.executions, command.execution_id.encode(),
                            encode_event(event, self.settings.schema_registry_url), None))
                continue
            assert catalog is not None
            resolved = catalog.resolve(command.flow, command.version)
            submission = self._submission(command, resolved, now) if isinstance(resolved, Resolved) else None
            if submission is None:
                why = resolved if isinstance(resolved, str) else "the submission does not fit in one Kafka record"
                log.warning("schedule %s: tick %s starts nothing: %s", command.schedule_id, command.logical_time,
                            why)
                report = ReportRunEnded(command.schedule_id, command.execution_id, command.logical_time,
                                        "REJECTED", why)
                out.append(self.schedule_event(run_ended_event(report, now)))
                continue
            out.append((self.executions, command.execution_id.encode(), submission, None))
        return out

    def _submission(self, command: StartExecution, resolved: Resolved, now: int) -> bytes | None:
        spec = resolved.spec
        event = ev.Event(command_id("submit", command.execution_id, command.schedule_id, 0), command.execution_id,
                         now, "scheduler", ev.ExecutionSubmitted(
                             flow_name=spec.name, definition_hash=resolved.version, definition=spec,
                             params={**scheduled_params(command), **command.params},
                             submitter=f"schedule {command.schedule_id}",
                             idempotency_key=command.idempotency_key, schedule_id=command.schedule_id,
                             logical_time=command.logical_time, project=resolved.project, archive=resolved.archive))
        value = encode_event(event, self.settings.schema_registry_url)
        return value if fits_in_a_record(value) else None


class ScheduleAgents:
    """What the schedules agent and timers do, apart from faust's registration of them."""

    def __init__(self, settings: Settings, edge: ScheduleEdge, send_all: SendAll, dead_letter: DeadLetter,
                 owner: PartitionOwner[ScheduleCore]) -> None:
        self.settings, self.edge, self.core = settings, edge, edge.core
        self.send_all, self.dead_letter, self.owner = send_all, dead_letter, owner
        self.partition_count = len(partitions_of(settings, settings.schedules_topic))  # a key's partition needs it
        self.own = OwnRecords()  # the events the core decided, applied then: read back, they are skipped undecoded
        self.written = WrittenTicks()  # where this instance's ticks landed: a run of them is decided at once
        self.watch = DependencyWatch(settings)
        self.warned: set[str] = set()

    def adopt(self, rebuilt: ScheduleCore, partitions: set[int]) -> Then:
        self.core.adopt(rebuilt, partitions)
        return None

    def drop(self, partitions: set[int]) -> None:
        self.own.forget(partitions)
        self.written.forget(partitions)
        self.core.drop_partitions(partitions)

    def take(self, message: Any) -> tuple[list[Send], list[ScheduleCommand]]:
        if self.own.read_back(message.partition, message.headers):
            return [], []
        try:
            event = admit_schedule(message.key, message.value, message.headers, self.edge.signing_key,
                                   self.settings.schema_registry_url, Placement(message.partition,
                                                                                self.partition_count))
            output = self.core.handle(event, message.partition)
        except Misplaced as exc:  # written again keyed by the schedule id: it lands where it is folded
            warn_once(self.warned, exc)
            copy = forward(exc, message.value, message.headers)
            return [(self.edge.schedules, copy.key, copy.value, copy.headers)], []
        except Refused as exc:
            return [self.dead_letter(message, exc.reason)], []
        except Exception as exc:  # a bug meeting an input: this record is set aside with the reason
            log.exception("handling a schedules record of partition %s failed", message.partition)
            reason = f"the engine failed on this record: {type(exc).__name__}: {exc}"
            return [self.dead_letter(message, reason[:MAX_REASON])], []
        if output.unknown_schedule:
            return [self.dead_letter(message, f"{event.type} for unknown schedule {event.schedule_id}")], []
        return self.decided(output, message.partition)

    def decided(self, output: ScheduleOutput, partition: int) -> tuple[list[Send], list[ScheduleCommand]]:
        self.own.remember(partition, (e.event_id for e in output.events))
        return [self.edge.schedule_event(e) for e in output.events], output.commands

    def ticks_after(self, partition: int, offset: int, limit: int,
                    ) -> tuple[list[Send], list[ScheduleCommand], int, int]:
        """Decide the run of this instance's ticks that follows ``offset`` (see written_ticks.py), up to ``limit``;
        a tick whose handling raises ends the run and is read as usual (and dead-lettered there)."""
        sends: list[Send] = []
        commands: list[ScheduleCommand] = []
        count = last_written = 0
        for at, tick in self.written.following(partition, offset):
            if count >= limit:
                break
            try:
                output = self.core.handle(tick, partition)
            except Exception:
                break
            self.written.taken(partition, at)
            more, started = self.decided(output, partition)
            sends += more
            commands += started
            count += 1
            last_written = max(last_written, tick.occurred_at)
        return sends, commands, count, last_written

    async def fold(self, batch: list[Any]) -> None:
        writes: list[Send] = []
        commands: list[ScheduleCommand] = []
        decided_at = 0
        ahead = 0
        for record in batch:
            message = record.message
            await self.owner.gate(message.partition).wait()
            if self.written.read(message.partition, message.offset):
                continue  # decided ahead, in this batch or an earlier one
            sends, started = self.take(message)
            writes += sends
            if started:
                commands += started
                decided_at = max(decided_at, int(message.timestamp * 1000))
            if ahead < BATCH_SIZE:
                sends, started, count, last_written = self.ticks_after(message.partition, message.offset,
                                                                       BATCH_SIZE - ahead)
                ahead += count
                writes += sends
                if started:
                    commands += started
                    decided_at = max(decided_at, last_written)
        await write_or_exit("a schedules batch", self._write(writes, commands, decided_at))

    async def _write(self, writes: list[Send], commands: list[ScheduleCommand], decided_at: int) -> None:
        await self.send_all(writes)  # the decisions, then the submissions and cancels they lead to
        await self.send_all(await self.edge.carry_out(commands, decided_at))

    async def write_ticks(self) -> None:
        ticks = self.core.due(now_ms())
        if ticks:
            placed = await self.send_all([self.edge.schedule_event(t) for t in ticks])
            for tick, (partition, offset) in zip(ticks, placed, strict=True):
                self.written.add(partition, offset, tick)

    async def watch_dependencies(self) -> None:
        waiting = [(schedule_id, tick, dependency) for schedule_id, tick, unmet in self.core.waits()
                   for dependency in self.core.states[schedule_id].spec.dependencies if dependency.name in unmet]
        if waiting:
            found = await asyncio.to_thread(self.watch.scan, waiting, now_ms())
            if found:
                await self.send_all([self.edge.schedule_event(e) for e in found])


def wire_schedules(app: faust.App, settings: Settings, executions: faust.TopicT, send_all: SendAll,
                   dead_letter: DeadLetter, signing_key: bytes) -> ScheduleEdge:
    """Add the schedules agent, its timers and its partition handling to the engine's app."""
    schedules = app.topic(settings.schedules_topic, partitions=settings.partitions, key_serializer="raw",
                          value_serializer="raw")
    edge = ScheduleEdge(settings, executions, schedules, signing_key, ScheduleCore())
    owner: PartitionOwner[ScheduleCore] = PartitionOwner(app, settings.schedules_topic)
    agents = ScheduleAgents(settings, edge, send_all, dead_letter, owner)
    owner.bind(lambda fresh, offsets: rebuild_schedules(settings, fresh, offsets), agents.adopt, agents.drop)

    @app.agent(schedules, name="fold-schedules")
    async def fold_schedules(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WINDOW_S):
            await agents.fold(batch)

    @app.timer(TIMER_S)
    async def write_ticks() -> None:
        await agents.write_ticks()

    @app.timer(WATCH_S)
    async def watch_dependencies() -> None:
        await agents.watch_dependencies()

    return edge
