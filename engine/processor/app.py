"""The faust app: agents on the executions and heartbeats topics, a timer that fires deadlines, and the schedules
(``engine.processor.schedules``).

at_least_once by default with an idempotent fold (a re-delivered event changes nothing and re-decided events keep
their ids); exactly_once is a setting for Apache Kafka. Commands leave only after the events that decided them
are written, so a worker never reports on an attempt the log has not recorded.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import faust

from engine.clock import now_ms
from engine.codec import DecodeError, codec, encode_event
from engine.codec.admission import Refused, admit, signed
from engine.codec.partitioning import Placement
from engine.codec.records import dispatch_to_record, kill_to_record
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import Command, DispatchJob, ReportRunEnded
from engine.domain.ids import command_id
from engine.kafka import dead_letter_headers, ensure_topics, faust_credentials
from engine.log_reader import dead_lettered, partitions_of, read_records
from engine.processor.core import EngineCore
from engine.processor.faust_tuning import use_fetch_wait, use_idempotent_producer
from engine.processor.intake import EXIT_UNWRITTEN, Intake
from engine.processor.outbox import Send, engine_send_all
from engine.processor.own_records import OwnRecords
from engine.processor.partitions import PartitionOwner, Then
from engine.processor.schedules import run_ended_event, wire_schedules
from engine.processor.snapshots import SnapshotWriter, ensure_topic, load

log = logging.getLogger("kafkaban.engine")
RAW: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
BATCH_SIZE = 500
BATCH_WINDOW_S = 0.002


METADATA_MAX_AGE_MS = 5_000


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-engine"


def create_app(settings: Settings) -> faust.App:
    bootstrap = settings.require_bootstrap()
    signing_key = settings.require_signing_key()  # before anything connects: a public key refuses to start
    use_fetch_wait(settings.fetch_wait_ms)
    use_idempotent_producer(settings.idempotent_producers)
    ensure_topics(settings, settings.base_topics())
    # a key's partition depends on the topic's partition count: the one the topic has, whatever was configured
    partition_count = len(partitions_of(settings, settings.executions_topic))
    # faust keeps a data directory even for memory stores, by default "<app id>-data" in the current directory:
    # the engine's state lives in Kafka, so a temporary one will do
    datadir = tempfile.mkdtemp(prefix="kafkaban-engine-")
    atexit.register(shutil.rmtree, datadir, ignore_errors=True)
    app = faust.App(
        app_id(settings),
        datadir=datadir,
        broker=[f"kafka://{server}" for server in bootstrap.split(",")],
        # SASL and TLS from the same KAFKABAN_KAFKA_* settings as every confluent-kafka client
        broker_credentials=faust_credentials(settings),
        store="memory://",
        web_enabled=False,
        processing_guarantee=settings.processing_guarantee,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=max(settings.session_timeout_ms / 5000, 0.5),
        broker_commit_interval=0.5,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.002,
        # aiokafka does not refresh metadata when an offset lookup meets a moved leader (it retries the old one
        # until the metadata ages out, 5 min by default): after a broker failover the engine sat that long
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        producer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    executions = app.topic(settings.executions_topic, partitions=settings.partitions, **RAW)
    heartbeats = app.topic(settings.heartbeats_topic, partitions=settings.partitions, **RAW)
    deadletter = app.topic(settings.deadletter_topic, **RAW)
    control = app.topic(settings.control_topic, **RAW)
    core = new_core(settings)
    snapshots = SnapshotWriter(settings, app_id(settings), ensure_topic(settings, partition_count))
    positions: dict[int, int] = {}  # partition -> the offset after the last record whose results were written
    in_flight = asyncio.Event()  # set while a batch is handled and its results not yet written

    def capture_due() -> None:
        """Capture the partitions whose snapshot is due: only between batches, when every decision is written."""
        if in_flight.is_set():
            return
        for partition, offset in positions.items():
            if gate(partition).is_set() and snapshots.due(partition):
                snapshots.capture(partition, offset, lambda p=partition: core.take_dirty(p),  # type: ignore[misc]
                                  core.counts(partition))
    # a partition's records wait until its state is rebuilt: faust may start the stream before the signal ends
    owner: PartitionOwner[EngineCore] = PartitionOwner(app, settings.executions_topic)
    gate = owner.gate

    own = OwnRecords()

    pools: dict[str, faust.TopicT] = {}
    registry = settings.schema_registry_url
    if settings.engine_key is None:
        log.warning("KAFKABAN_ENGINE_KEY is not set: engine events are signed with the public development key, so "
                    "anyone who can write to %s can forge them", settings.executions_topic)

    async def pool_topic(pool: str) -> faust.TopicT:
        if pool not in pools:
            await asyncio.to_thread(ensure_topics, settings, [settings.dispatch_topic(pool)])
            pools[pool] = app.topic(settings.dispatch_topic(pool), **RAW)
        return pools[pool]

    send_all = engine_send_all(settings)

    async def send_commands(commands: list[Command]) -> None:
        now = now_ms()
        sends = []
        for command in commands:
            if isinstance(command, ReportRunEnded):
                sends.append(schedule_edge.schedule_event(run_ended_event(command, now)))
            elif isinstance(command, DispatchJob):
                record = dispatch_to_record(command, command_id("dispatch", command.execution_id, command.job,
                                                                command.attempt), now)
                sends.append((await pool_topic(command.pool), command.execution_id.encode(),
                              codec("dispatch", registry).encode(record), None))
            else:
                record = kill_to_record(command, command_id("kill", command.execution_id, command.job,
                                                            command.attempt), now)
                sends.append((control, command.execution_id.encode(), codec("control", registry).encode(record),
                              None))
        await send_all(sends)

    def dead_letter(message: Any, reason: str) -> Send:
        log.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        headers = dead_letter_headers(reason, message.topic, message.partition, message.offset)
        return (deadletter, message.key, message.value, headers)

    intake = Intake(core, signing_key, partition_count, registry)
    schedule_edge = wire_schedules(app, settings, executions, send_all, dead_letter, signing_key)

    def handle(message: Any) -> tuple[list[Send], list[Command]]:
        taken = intake.take(message.key, message.value, message.headers, message.partition, now_ms())
        if taken.dead_letter is not None:
            return [dead_letter(message, taken.dead_letter)], []
        if taken.forward is not None:
            # the same bytes and headers, keyed by the execution id: the engine's producers partition by murmur2,
            # so the copy lands on the partition every reader folds the execution from
            forward = taken.forward
            return [(executions, forward.key, forward.value, forward.headers)], []
        own.remember(message.partition, (e.event_id for e in taken.events))
        return [signed_event(e) for e in taken.events], taken.commands

    def signed_event(event: ev.Event) -> Send:
        value = encode_event(event, registry)
        # an end is signed with Ed25519 too, so that a follower can check it with the public key alone
        return (executions, event.execution_id.encode(), value,
                [own.header(event.event_id), *signed(value, signing_key, isinstance(event.payload, ev.ENDING_EVENTS))])

    @app.agent(executions, name="fold-executions")
    async def fold_executions(stream: faust.StreamT) -> None:
        # records are taken in small batches: the events of a whole batch are written with one wait for delivery,
        # then its commands, so a produce round trip is paid per batch rather than per record
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WINDOW_S):
            events: list[Send] = []
            commands: list[Command] = []
            in_flight.set()
            await schedule_edge.ticks_first()
            for record in batch:
                message = record.message
                await gate(message.partition).wait()
                if own.read_back(message.partition, message.headers):
                    continue
                writes, decided = handle(message)
                events += writes
                commands += decided
            try:
                await send_all(events)
                await send_commands(commands)
            except BaseException:
                # faust acks a batch when its loop body is left, even by an exception: leaving now would commit
                # records whose events or dead letters were never written. Stop hard instead; whoever restarts
                # this engine (or the partition's next owner) reads them again.
                log.critical("could not write the results of a batch; exiting without committing it", exc_info=True)
                os._exit(EXIT_UNWRITTEN)
            # every decision so far is written: the state is one a snapshot may keep (of a partition still owned:
            # one that left meanwhile is its next owner's, and a stale position must not outlive it)
            for record in batch:
                if gate(record.message.partition).is_set():
                    positions[record.message.partition] = record.message.offset + 1
            in_flight.clear()
            capture_due()

    @app.agent(heartbeats, name="renew-leases")
    async def renew_leases(stream: faust.StreamT) -> None:
        async for record in stream.events():
            message = record.message
            try:
                data = codec("heartbeats", registry).decode(message.value)
            except DecodeError as exc:
                await send_all([dead_letter(message, exc.reason)])
                continue
            name, body = data["payload"]
            if name.endswith("AttemptHeartbeat"):
                core.renew(data["execution_id"], body["job"], body["attempt"], now_ms())

    @app.timer(0.2)
    async def fire_timers() -> None:
        now = now_ms()
        core.evict(now)
        events = core.due(now)
        if events:
            await send_all([signed_event(e) for e in events])
        resend = core.resend_due(now)
        if resend:
            log.warning("sending %d dispatches again: not started within their deadline", len(resend))
            await send_commands(resend)

    @app.timer(1.0)
    async def publish_snapshots() -> None:
        capture_due()  # an idle partition's last changes too
        await snapshots.publish_due(lambda partition: gate(partition).is_set())

    def drop(partitions: set[int]) -> None:
        own.forget(partitions)
        core.drop_partitions(partitions)
        snapshots.forget(partitions)
        for partition in partitions:
            positions.pop(partition, None)

    def adopt(rebuilt: EngineCore, partitions: set[int]) -> Then:
        resend = core.adopt(rebuilt, partitions, now_ms())
        if not resend:
            return None

        async def send_again() -> None:
            # what the previous owner decided may not have left before it died: sent again, harmlessly if it had
            log.info("sending %d commands again after taking over partitions %s", len(resend), sorted(partitions))
            await send_commands(resend)
        return send_again

    owner.bind(lambda fresh, offsets: rebuild(settings, fresh, offsets), adopt, drop)

    return app


def new_core(settings: Settings) -> EngineCore:
    return EngineCore(dispatch_timeout_ms=int(settings.dispatch_timeout_s * 1000),
                      ended_grace_ms=int(settings.ended_grace_s * 1000), ended_kept=settings.ended_kept,
                      snapshots=settings.snapshot_interval_s > 0)


EVICT_EVERY = 10_000  # records folded between evictions during a rebuild: memory stays that of the live ones


def rebuild(settings: Settings, partitions: list[int], offsets: dict[int, int]) -> EngineCore:
    """A core holding each partition's executions folded up to the group's committed offset (later records are
    processed as they come), built apart from the live core so that the two never share a structure: from the
    partition's snapshot where there is a usable one, else from the log's start. It folds what the live path
    accepted: admitted records, less those the engine dead-lettered."""
    topic = settings.executions_topic
    now = now_ms()
    rebuilt = new_core(settings)
    total = 0
    started = time.monotonic()
    refused = dead_lettered(settings, topic)
    key = settings.require_signing_key()
    count = len(partitions_of(settings, topic))
    starts: dict[int, int] = {}
    for partition in partitions:
        end = offsets.get(partition, 0)
        snapshot = load(settings, partition) if settings.snapshot_interval_s > 0 else None
        if snapshot is not None and snapshot.offset > end:
            log.warning("the snapshot of %s[%d] covers offset %d, past the group's committed %d: refolding the log "
                        "from its start", settings.snapshots_topic, partition, snapshot.offset, end)
            snapshot = None
        if snapshot is not None:
            rebuilt.load(partition, snapshot.states, snapshot.ended, now)
        starts[partition] = snapshot.offset if snapshot is not None else 0
        for offset, record_key, value, headers in read_records(settings, topic, partition, end=end,
                                                               start=starts[partition]):
            if (partition, offset) in refused:
                continue
            try:
                event = admit(record_key, value, headers, key, settings.schema_registry_url,
                              Placement(partition, count))
            except Refused:
                continue  # dead-lettered when it was first read, or (misplaced) forwarded and folded from the copy
            rebuilt.fold_only(event, partition, now)
            total += 1
            if total % EVICT_EVERY == 0:
                rebuilt.evict(now)
    rebuilt.evict(now)
    log.info("rebuilt partitions %s of %s from %d events in %.1f s (from offsets %s, committed offsets %s)",
             partitions, topic, total, time.monotonic() - started, starts, offsets)
    return rebuilt


def run(settings: Settings) -> None:
    """Run one processor instance until SIGINT/SIGTERM."""
    app = create_app(settings)
    # faust's worker logs at WARNING and up; the engine's own lines below that (a rebuild: from which offsets, in
    # how long) are what an operator reads after a restart, so they get a handler of their own
    logging.getLogger("kafkaban.engine").setLevel(logging.INFO)
    own_info = logging.StreamHandler(sys.stdout)
    own_info.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] [%(name)s]: %(message)s"))
    own_info.addFilter(lambda record: record.levelno < logging.WARNING and record.name.startswith("kafkaban."))
    app.conf.loghandlers = [own_info]
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.spinner = None  # its terminal spinner writes cursor escapes even when the output is not a terminal
    worker.execute_from_commandline()
