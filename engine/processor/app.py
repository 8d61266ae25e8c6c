"""The engine's faust app: its settings, its topics, and the two halves wired onto it, the executions
(``engine.processor.executions``) and the schedules (``engine.processor.schedules``).

at_least_once by default with an idempotent fold (a re-delivered event changes nothing and re-decided events keep
their ids); exactly_once is a setting for Apache Kafka.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import sys
import tempfile
from typing import Any

import faust

from engine.config import Settings
from engine.kafka import dead_letter_headers, ensure_topics, faust_credentials
from engine.log_reader import partitions_of
from engine.processor.executions import RAW, ExecutionEdge, wire_executions
from engine.processor.faust_tuning import use_fetch_wait, use_idempotent_producer
from engine.processor.outbox import Send, engine_send_all
from engine.processor.schedules import wire_schedules
from engine.processor.snapshots import SnapshotWriter, ensure_topic

log = logging.getLogger("kafkaban.engine")
METADATA_MAX_AGE_MS = 5_000


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-engine"


def create_app(settings: Settings) -> faust.App:
    signing_key = settings.require_signing_key()  # before anything connects: a public key refuses to start
    use_fetch_wait(settings.fetch_wait_ms)
    use_idempotent_producer(settings.idempotent_producers)
    ensure_topics(settings, settings.base_topics())
    # a key's partition depends on the topic's partition count: the one the topic has, whatever was configured
    partition_count = len(partitions_of(settings, settings.executions_topic))
    if settings.engine_key is None:
        log.warning("KAFKABAN_ENGINE_KEY is not set: engine events are signed with the public development key, so "
                    "anyone who can write to %s can forge them", settings.executions_topic)
    app = faust_app(settings)
    executions = app.topic(settings.executions_topic, partitions=settings.partitions, **RAW)
    heartbeats = app.topic(settings.heartbeats_topic, partitions=settings.partitions, **RAW)
    deadletter = app.topic(settings.deadletter_topic, **RAW)
    control = app.topic(settings.control_topic, **RAW)
    send_all = engine_send_all(settings)

    def dead_letter(message: Any, reason: str) -> Send:
        log.warning("dead-lettering %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
        headers = dead_letter_headers(reason, message.topic, message.partition, message.offset)
        return (deadletter, message.key, message.value, headers)

    schedules = wire_schedules(app, settings, executions, send_all, dead_letter, signing_key)
    edge = ExecutionEdge(app, settings, executions, control, send_all, schedules, signing_key)
    snapshots = SnapshotWriter(settings, app_id(settings), ensure_topic(settings, partition_count))
    wire_executions(app, settings, edge, heartbeats, snapshots, dead_letter, partition_count)
    return app


def faust_app(settings: Settings) -> faust.App:
    bootstrap = settings.require_bootstrap()
    # faust keeps a data directory even for memory stores, by default "<app id>-data" in the current directory:
    # the engine's state lives in Kafka, so a temporary one will do
    datadir = tempfile.mkdtemp(prefix="kafkaban-engine-")
    atexit.register(shutil.rmtree, datadir, ignore_errors=True)
    return faust.App(
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
