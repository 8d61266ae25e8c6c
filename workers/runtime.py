"""The worker process: one consumer group per pool, slots and resources, heartbeats, kills, drain. Each attempt runs
in workers/attempt.py (its environment, process, output and logs); which user it runs as, workers/users.py.

Back-pressure goes through the consumer: with no free slot (or not enough free cpu/memory for the next job) the
worker pauses its partitions and keeps polling only to stay in the group. A dispatch is committed before the
worker claims it (JobStarted) and runs it, so no other worker is handed a dispatch this one runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, Producer, TopicPartition

from engine.clock import now_ms
from engine.codec import DecodeError, codec, encode_event
from engine.codec.records import dispatch_from_record, envelope, kill_from_record
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import DispatchJob
from engine.kafka import consumer_config, ensure_topics, producer_config, send_dead_letter
from engine.paths import cache_dir
from workers.archives import ArchiveCache
from workers.attempt import Attempt, AttemptKey, AttemptRunner
from workers.jobtypes import JobTypes
from workers.jobtypes import load as load_jobtypes
from workers.users import JobUsers

log = logging.getLogger("kafkaban.worker")


class Worker:
    def __init__(self, settings: Settings, pool: str = "default", slots: int = 4, cpu: float | None = None,
                 memory_mb: int | None = None, worker_id: str | None = None,
                 jobtypes: JobTypes | None = None) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one slot")
        self.users = JobUsers.from_settings(settings)  # first: a worker that must not run jobs does not start
        self.jobtypes = jobtypes or JobTypes()
        self.archives = ArchiveCache(settings.api_url, cache_dir(settings) / "archives", settings.token)
        self.settings = settings
        self.pool = pool
        self.slots = slots
        self.cpu = float(cpu if cpu is not None else os.cpu_count() or 1)
        self.memory_mb = int(memory_mb if memory_mb is not None else _total_memory_mb())
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.registry = settings.schema_registry_url
        self.producer = Producer(producer_config(settings))
        self.running: dict[AttemptKey, Attempt] = {}
        self.killed: OrderedDict[AttemptKey, str] = OrderedDict()
        self.seen: OrderedDict[AttemptKey, None] = OrderedDict()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.slot_freed = threading.Event()
        self.runner = AttemptRunner(settings, self.worker_id, self.archives, self.jobtypes, self.users,
                                    self._report, self._send_log)

    # -- reporting ----------------------------------------------------------------------------------------------

    def _report(self, execution_id: str, payload: ev.Payload) -> None:
        if isinstance(payload, ev.JobSucceeded | ev.JobFailed):
            payload = replace(payload, worker_id=self.worker_id)  # the claim fences results by worker
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "worker", payload)

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                log.error("could not write %s of %s: %s", event.type, execution_id, error)

        self.producer.produce(self.settings.executions_topic, key=execution_id.encode(),
                              value=encode_event(event, self.registry), on_delivery=delivered)
        self.producer.poll(0)

    def _take(self, consumer: Consumer, message: Message, key: AttemptKey) -> bool:
        """Commit a dispatch's offset before claiming and running it: once committed, no rebalance or restart
        hands it to another worker. A commit refused (a rebalance under way, the coordinator away) leaves the
        dispatch untaken: it is read again, here or by the partition's next owner. A worker that dies between
        the commit and its JobStarted loses the dispatch; the engine's dispatch deadline sends it again."""
        try:
            consumer.commit(offsets=[TopicPartition(message.topic(), message.partition(), message.offset() + 1)],
                            asynchronous=False)
        except KafkaException as exc:
            log.warning("dispatch of %s not taken, its commit failed (it will be read again): %s", key, exc)
            with self.lock:
                self.seen.pop(key, None)
            with contextlib.suppress(KafkaException):  # revoked already: its next owner reads it from the commit
                consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
            return False
        consumer.store_offsets(message)  # the auto-commit then holds the same position
        return True

    def _send(self, topic: str, short: str, key: str, key_field: str, record: str, body: dict[str, Any]) -> None:
        data = envelope({"event_id": str(uuid.uuid4()), key_field: key, "occurred_at": now_ms(),
                         "producer": "worker"}, key_field, (f"kafkaban.{short}.{record}", body))
        self.producer.produce(topic, key=key.encode(), value=codec(short, self.registry).encode(data))
        self.producer.poll(0)

    def _send_log(self, execution_id: str, line: dict[str, Any]) -> None:
        self._send(self.settings.logs_topic, "logs", execution_id, "execution_id", "LogLine", line)

    # -- main loop ----------------------------------------------------------------------------------------------

    def run(self) -> None:
        topic = self.settings.dispatch_topic(self.pool)
        ensure_topics(self.settings, self.settings.worker_topics(self.pool))
        consumer = Consumer(consumer_config(
            self.settings, f"{self.settings.topic_prefix}.workers.{self.pool}",
            **{"enable.auto.commit": True, "enable.auto.offset.store": False, "max.poll.interval.ms": 86_400_000},
        ))
        paused = False

        def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
            keep_pause_state(c, partitions, paused)
            self.ready.set()

        consumer.subscribe([topic], on_assign=on_assign)
        threads = [threading.Thread(target=self._control_loop, daemon=True, name="control"),
                   threading.Thread(target=self._heartbeat_loop, daemon=True, name="heartbeats")]
        for thread in threads:
            thread.start()
        held: tuple[DispatchJob, Message] | None = None
        log.info("worker %s serving pool %s with %d slots; %s", self.worker_id, self.pool, self.slots,
                 self.users.describe())
        try:
            while not self.stopping.is_set():
                if held is not None and self._fits(held[0]):
                    self._start(*held, consumer)
                    held = None
                full = held is not None or len(self.running) >= self.slots
                if full != paused:
                    (consumer.pause if full else consumer.resume)(consumer.assignment())
                    paused = full
                if full:
                    # paused: keep the group membership alive, and wake the moment an attempt ends
                    consumer.poll(0)
                    self.slot_freed.wait(0.2)
                    self.slot_freed.clear()
                    continue
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error():
                    log.warning("consumer error: %s", message.error())
                    continue
                dispatch = self._decode_dispatch(message, consumer)
                if dispatch is None:
                    continue
                if self._fits(dispatch):
                    self._start(dispatch, message, consumer)
                else:
                    held = (dispatch, message)
        finally:
            # the held dispatch's offset was never stored: the group hands it to another worker
            consumer.close()
            self._drain()
            self.producer.flush(10)

    def _decode_dispatch(self, message: Message, consumer: Consumer) -> DispatchJob | None:
        try:
            dispatch = dispatch_from_record(codec("dispatch", self.registry).decode(message.value()), self.pool)
        except DecodeError as exc:
            send_dead_letter(self.producer, self.settings, message.key(), message.value(), exc.reason,
                             message.topic(), message.partition(), message.offset())
            consumer.store_offsets(message)
            return None
        key = (dispatch.execution_id, dispatch.job, dispatch.attempt)
        with self.lock:
            duplicate = key in self.seen or key in self.killed
            _remember(self.seen, key)
        if duplicate:
            consumer.store_offsets(message)  # a command sent again, or an attempt killed before it started
            return None
        if dispatch.cpu > self.cpu or dispatch.memory_mb > self.memory_mb:
            self._report(dispatch.execution_id, ev.JobFailed(
                dispatch.job, dispatch.attempt, None,
                f"needs {dispatch.cpu:g} cpu and {dispatch.memory_mb} MiB; worker {self.worker_id} of pool "
                f"{self.pool} has {self.cpu:g} cpu and {self.memory_mb} MiB"))
            consumer.store_offsets(message)
            return None
        return dispatch

    def _fits(self, dispatch: DispatchJob) -> bool:
        with self.lock:
            if len(self.running) >= self.slots:
                return False
            cpu, memory = self._reserved()
        return cpu + dispatch.cpu <= self.cpu and memory + dispatch.memory_mb <= self.memory_mb

    def _reserved(self) -> tuple[float, int]:
        """The cpu and memory (MiB) the running attempts asked for; the caller holds the lock."""
        return (sum(a.dispatch.cpu for a in self.running.values()),
                sum(a.dispatch.memory_mb for a in self.running.values()))

    def _start(self, dispatch: DispatchJob, message: Message, consumer: Consumer) -> None:
        if dispatch.type == "noop":  # nothing to run: no thread, no work directory
            self._report(dispatch.execution_id, ev.JobStarted(dispatch.job, dispatch.attempt, self.worker_id))
            self._report(dispatch.execution_id, ev.JobSucceeded(dispatch.job, dispatch.attempt, 0, {}))
            consumer.store_offsets(message)
            return
        key = (dispatch.execution_id, dispatch.job, dispatch.attempt)
        if not self._take(consumer, message, key):
            return
        attempt = Attempt.new(dispatch)
        with self.lock:
            self.running[attempt.key] = attempt
        self._report(dispatch.execution_id, ev.JobStarted(dispatch.job, dispatch.attempt, self.worker_id))
        threading.Thread(target=self._run_attempt, args=(attempt,), daemon=True,
                         name=f"job-{dispatch.job}-{dispatch.attempt}").start()

    def _run_attempt(self, attempt: Attempt) -> None:
        try:
            self.runner.run(attempt)
        finally:
            # no flush here: it would wait for every record any thread produced, holding the slot meanwhile;
            # the report is delivered in the background (flushed at shutdown), and a report lost with a
            # crashing worker is covered by the lease: the attempt runs again
            self.producer.poll(0)
            with self.lock:
                self.running.pop(attempt.key, None)
            self.slot_freed.set()
            self.runner.clean(attempt)

    # -- kills --------------------------------------------------------------------------------------------------

    def kill(self, key: AttemptKey, reason: str, hand_back: bool = False) -> None:
        with self.lock:
            _remember(self.killed, key, reason)
            attempt = self.running.get(key)
        if attempt is not None:
            attempt.kill(reason, hand_back, self.settings.kill_grace_s)

    def _control_loop(self) -> None:
        topic = self.settings.control_topic
        consumer = Consumer(consumer_config(self.settings, f"{self.settings.topic_prefix}.control.{self.worker_id}",
                                            **{"enable.auto.commit": False}))
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            # every worker reads every kill from now on; no group, so no join to wait for
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
            while not self.stopping.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error():
                    continue
                try:
                    kill = kill_from_record(codec("control", self.registry).decode(message.value()))
                except (DecodeError, KeyError, TypeError) as exc:
                    log.warning("undecodable control record at %s: %s", message.offset(), exc)
                    continue
                if kill.worker_id not in (None, self.worker_id):
                    continue  # another worker's copy of the attempt; this one holds the claim
                self.kill((kill.execution_id, kill.job, kill.attempt), kill.reason)
        finally:
            consumer.close()

    # -- heartbeats ---------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        next_worker_beat = 0.0
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            with self.lock:
                attempts = list(self.running.values())
                cpu_reserved, memory_reserved = self._reserved()
            for attempt in attempts:
                if now >= attempt.next_heartbeat and not attempt.handed_back:
                    attempt.next_heartbeat = now + attempt.dispatch.lease_ms / 3000
                    d = attempt.dispatch
                    self._send(self.settings.heartbeats_topic, "heartbeats", d.execution_id, "execution_id",
                               "AttemptHeartbeat", {"job": d.job, "attempt": d.attempt, "worker_id": self.worker_id})
            if now >= next_worker_beat:
                next_worker_beat = now + 5
                running = [f"{e}/{j}/{a}" for e, j, a in (a.key for a in attempts)]
                self._send(self.settings.heartbeats_topic, "heartbeats", self.worker_id, "execution_id",
                           "WorkerHeartbeat", {"worker_id": self.worker_id, "pool": self.pool,
                                               "slots": self.slots, "running": running,
                                               "cpu": self.cpu, "cpu_reserved": cpu_reserved,
                                               "memory_mb": self.memory_mb,
                                               "memory_reserved_mb": memory_reserved, "load_1m": _load_1m()})

    # -- stopping -----------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()

    def _drain(self) -> None:
        """Let running attempts finish; after the drain timeout, kill them and hand them back (lease expiry)."""
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while self.running and time.monotonic() < deadline:
            self.slot_freed.wait(0.2)
            self.slot_freed.clear()
        for key in list(self.running):
            self.kill(key, "worker stopped", hand_back=True)
        end = time.monotonic() + self.settings.kill_grace_s + 2
        while self.running and time.monotonic() < end:
            time.sleep(0.1)


def keep_pause_state(consumer: Consumer, partitions: list[TopicPartition], paused: bool) -> None:
    """Set assigned partitions to the worker's state now. librdkafka keeps a partition's pause across a rebalance:
    one paused while the slots were full and assigned again after a slot freed (that resume met an empty
    assignment) would otherwise never be fetched again."""
    (consumer.pause if paused else consumer.resume)(partitions)


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any = None, limit: int = 100_000) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def _total_memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 1024


def _load_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not every system keeps a load average
        return None


def run(settings: Settings, pool: str, slots: int, cpu: float | None = None, memory_mb: int | None = None,
        jobtypes_dir: Path | None = None) -> None:
    worker = Worker(settings, pool, slots, cpu, memory_mb, jobtypes=load_jobtypes(jobtypes_dir))

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %d: finishing running attempts, taking no new ones", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.run()
