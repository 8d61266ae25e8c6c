"""The engine's executions: the agent that folds the executions topic in batches, the one that renews leases from
heartbeats, the timers that fire deadlines and publish snapshots, and the edge that turns the core's decisions into
records (signed events, dispatches to pool topics, kills on the control topic).

Commands leave only after the events that decided them are written, so a worker never reports on an attempt the
log has not recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust

from engine.clock import now_ms
from engine.codec import DecodeError, codec, encode_event
from engine.codec.admission import signed
from engine.codec.records import dispatch_to_record, kill_to_record
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import Command, DispatchJob, ReportRunEnded
from engine.domain.ids import command_id
from engine.kafka import ensure_topics
from engine.processor.core import EngineCore
from engine.processor.intake import Intake
from engine.processor.outbox import Send, SendAll, write_or_exit
from engine.processor.own_records import OwnRecords
from engine.processor.partitions import PartitionOwner, Then
from engine.processor.refold import new_core, rebuild_executions
from engine.processor.schedules import ScheduleEdge, run_ended_event
from engine.processor.snapshots import SnapshotWriter

log = logging.getLogger("kafkaban.engine")
RAW: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
BATCH_SIZE = 500
BATCH_WINDOW_S = 0.002
TIMER_S = 0.2
SNAPSHOT_TIMER_S = 1.0
DeadLetter = Callable[[Any, str], Send]


class ExecutionEdge:
    """Records for what the core decided: its events signed, its commands on the topics their readers consume."""

    def __init__(self, app: faust.App, settings: Settings, executions: faust.TopicT, control: faust.TopicT,
                 send_all: SendAll, schedules: ScheduleEdge, signing_key: bytes) -> None:
        self.app, self.settings = app, settings
        self.executions, self.control = executions, control
        self.send_all, self.schedules, self.signing_key = send_all, schedules, signing_key
        self.registry = settings.schema_registry_url
        self.own = OwnRecords()
        self._pools: dict[str, faust.TopicT] = {}

    async def pool_topic(self, pool: str) -> faust.TopicT:
        if pool not in self._pools:
            await asyncio.to_thread(ensure_topics, self.settings, [self.settings.dispatch_topic(pool)])
            self._pools[pool] = self.app.topic(self.settings.dispatch_topic(pool), **RAW)
        return self._pools[pool]

    def signed_event(self, event: ev.Event) -> Send:
        value = encode_event(event, self.registry)
        # an end is signed with Ed25519 too, so that a follower can check it with the public key alone
        return (self.executions, event.execution_id.encode(), value,
                [self.own.header(event.event_id),
                 *signed(value, self.signing_key, isinstance(event.payload, ev.ENDING_EVENTS))])

    async def send_commands(self, commands: list[Command]) -> None:
        now = now_ms()
        sends: list[Send] = []
        for command in commands:
            if isinstance(command, ReportRunEnded):
                sends.append(self.schedules.schedule_event(run_ended_event(command, now)))
            elif isinstance(command, DispatchJob):
                record = dispatch_to_record(command, command_id("dispatch", command.execution_id, command.job,
                                                                command.attempt), now)
                sends.append((await self.pool_topic(command.pool), command.execution_id.encode(),
                              codec("dispatch", self.registry).encode(record), None))
            else:
                record = kill_to_record(command, command_id("kill", command.execution_id, command.job,
                                                            command.attempt), now)
                sends.append((self.control, command.execution_id.encode(),
                              codec("control", self.registry).encode(record), None))
        await self.send_all(sends)


class ExecutionAgents:
    """What the executions agents and timers do, apart from faust's registration of them."""

    def __init__(self, settings: Settings, edge: ExecutionEdge, intake: Intake, core: EngineCore,
                 owner: PartitionOwner[EngineCore], snapshots: SnapshotWriter, dead_letter: DeadLetter) -> None:
        self.settings, self.edge, self.intake, self.core = settings, edge, intake, core
        self.owner, self.snapshots, self.dead_letter = owner, snapshots, dead_letter
        self.positions: dict[int, int] = {}  # partition -> the offset after the last record whose results were written
        self.in_flight = asyncio.Event()  # set while a batch is handled and its results not yet written

    def handle(self, message: Any) -> tuple[list[Send], list[Command]]:
        taken = self.intake.take(message.key, message.value, message.headers, message.partition, now_ms())
        if taken.dead_letter is not None:
            return [self.dead_letter(message, taken.dead_letter)], []
        if taken.forward is not None:
            # the same bytes and headers, keyed by the execution id: the engine's producers partition by murmur2,
            # so the copy lands on the partition every reader folds the execution from
            forward = taken.forward
            return [(self.edge.executions, forward.key, forward.value, forward.headers)], []
        self.edge.own.remember(message.partition, (e.event_id for e in taken.events))
        return [self.edge.signed_event(e) for e in taken.events], taken.commands

    async def fold(self, batch: list[Any]) -> None:
        """One batch: its events written with one wait for delivery, then its commands."""
        events: list[Send] = []
        commands: list[Command] = []
        self.in_flight.set()
        await self.edge.schedules.ticks_first()
        for record in batch:
            message = record.message
            await self.owner.gate(message.partition).wait()
            if self.edge.own.read_back(message.partition, message.headers):
                continue
            writes, decided = self.handle(message)
            events += writes
            commands += decided
        await write_or_exit("a batch", self._write(events, commands))
        # every decision so far is written: the state is one a snapshot may keep (of a partition still owned: one
        # that left meanwhile is its next owner's, and a stale position must not outlive it)
        for record in batch:
            if self.owner.gate(record.message.partition).is_set():
                self.positions[record.message.partition] = record.message.offset + 1
        self.in_flight.clear()
        self.capture_due()

    async def _write(self, events: list[Send], commands: list[Command]) -> None:
        await self.edge.send_all(events)
        await self.edge.send_commands(commands)

    async def renew(self, message: Any) -> None:
        try:
            data = codec("heartbeats", self.edge.registry).decode(message.value)
        except DecodeError as exc:
            await self.edge.send_all([self.dead_letter(message, exc.reason)])
            return
        name, body = data["payload"]
        if name.endswith("AttemptHeartbeat"):
            self.core.renew(data["execution_id"], body["job"], body["attempt"], now_ms())

    async def fire_timers(self) -> None:
        now = now_ms()
        self.core.evict(now)
        events = self.core.due(now)
        if events:
            await self.edge.send_all([self.edge.signed_event(e) for e in events])
        resend = self.core.resend_due(now)
        if resend:
            log.warning("sending %d dispatches again: not started within their deadline", len(resend))
            await self.edge.send_commands(resend)

    def capture_due(self) -> None:
        """Capture the partitions whose snapshot is due: only between batches, when every decision is written."""
        if self.in_flight.is_set():
            return
        for partition, offset in self.positions.items():
            if self.owner.gate(partition).is_set() and self.snapshots.due(partition):
                self.snapshots.capture(partition, offset,
                                       lambda p=partition: self.core.take_dirty(p),  # type: ignore[misc]
                                       self.core.counts(partition))

    async def publish_snapshots(self) -> None:
        self.capture_due()  # an idle partition's last changes too
        await self.snapshots.publish_due(lambda partition: self.owner.gate(partition).is_set())

    def drop(self, partitions: set[int]) -> None:
        self.edge.own.forget(partitions)
        self.core.drop_partitions(partitions)
        self.snapshots.forget(partitions)
        for partition in partitions:
            self.positions.pop(partition, None)

    def adopt(self, rebuilt: EngineCore, partitions: set[int]) -> Then:
        resend = self.core.adopt(rebuilt, partitions, now_ms())
        if not resend:
            return None

        async def send_again() -> None:
            # what the previous owner decided may not have left before it died: sent again, harmlessly if it had
            log.info("sending %d commands again after taking over partitions %s", len(resend), sorted(partitions))
            await self.edge.send_commands(resend)
        return send_again


def wire_executions(app: faust.App, settings: Settings, edge: ExecutionEdge, heartbeats: faust.TopicT,
                    snapshots: SnapshotWriter, dead_letter: DeadLetter, partition_count: int) -> ExecutionAgents:
    """Add the executions agents, their timers and their partition handling to the engine's app."""
    core = new_core(settings)
    # a partition's records wait until its state is rebuilt: faust may start the stream before the signal ends
    owner: PartitionOwner[EngineCore] = PartitionOwner(app, settings.executions_topic)
    intake = Intake(core, edge.signing_key, partition_count, edge.registry)
    agents = ExecutionAgents(settings, edge, intake, core, owner, snapshots, dead_letter)
    owner.bind(lambda fresh, offsets: rebuild_executions(settings, fresh, offsets), agents.adopt, agents.drop)

    @app.agent(edge.executions, name="fold-executions")
    async def fold_executions(stream: faust.StreamT) -> None:
        # records are taken in small batches: a produce round trip is paid per batch rather than per record
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WINDOW_S):
            await agents.fold(batch)

    @app.agent(heartbeats, name="renew-leases")
    async def renew_leases(stream: faust.StreamT) -> None:
        async for record in stream.events():
            await agents.renew(record.message)

    @app.timer(TIMER_S)
    async def fire_timers() -> None:
        await agents.fire_timers()

    @app.timer(SNAPSHOT_TIMER_S)
    async def publish_snapshots() -> None:
        await agents.publish_snapshots()

    return agents
