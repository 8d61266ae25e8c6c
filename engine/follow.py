"""Follow executions to their end from another service: a consumer of the caller's own group on
``<prefix>.executions`` that yields one ``ExecutionEnded`` per execution, as the views record it.

    with ExecutionFollower(Settings.from_env(), group="billing-service.ends") as follower:
        for end in follower.ends():
            print(end.execution_id, end.flow, end.status, end.ended_at)   # committed when you ask for the next

A record counts only if the admission rule for ends takes it (``engine.codec.admission.admit_end``, called in
``admitted`` only): a forged or unsigned end is skipped here as the views skip it. The engine signs its ends with
Ed25519 as well as the HMAC every reader of the engine key checks, so a follower needs only the public key
(KAFKABAN_ENGINE_PUBLIC_KEY, printed by ``kafkaban engine-key public``), which cannot sign: the engine key stays
with the engine, the projector and the auditors.

Delivery is at least once: an end is committed after the caller's loop body (or callback) for it returns, never
before, so a follower that dies while handling one gets it again. Ends name their flow, which only the submission
holds: when it gets a partition, a follower reads the partition from its start up to the group's committed
offset to learn the flows of executions still open there, as the engine rebuilds its state on assignment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from engine.clock import utc_from_ms
from engine.codec.admission import Headers, Refused, admit_end, engine_public_key
from engine.codec.partitioning import Placement
from engine.config import ConfigError, Settings
from engine.domain import events as ev
from engine.domain.state import ExecutionStatus
from engine.kafka import consumer_config
from engine.log_reader import read_records

log = logging.getLogger("kafkaban.follow")

END_STATUS: dict[type, ExecutionStatus] = {
    ev.ExecutionSucceeded: ExecutionStatus.SUCCEEDED,
    ev.ExecutionFailed: ExecutionStatus.FAILED,
    ev.ExecutionCancelled: ExecutionStatus.CANCELLED,
    ev.ExecutionRejected: ExecutionStatus.REJECTED,  # the engine refused the submission: an end too
}
BATCH = 500
POLL_S = 0.5
STARTS = ("earliest", "latest")
NO_PUBLIC_KEY = ("KAFKABAN_ENGINE_PUBLIC_KEY is not set: a follower needs the engine's public key to tell its ends "
                 "from forgeries. Print it with `kafkaban engine-key public` where KAFKABAN_ENGINE_KEY is set, and "
                 "set it (or KAFKABAN_ENGINE_PUBLIC_KEY_FILE) here")


class FollowError(RuntimeError):
    pass


@dataclass(frozen=True)
class ExecutionEnded:
    execution_id: str
    status: ExecutionStatus
    flow: str
    ended_at: dt.datetime  # UTC, the end event's time (the views' ended_at)
    submitter: str
    project: str | None
    idempotency_key: str | None
    failed_jobs: tuple[str, ...]  # FAILED: the jobs whose failure ended it
    errors: tuple[str, ...]  # REJECTED: why
    event_id: str
    partition: int
    offset: int


@dataclass(frozen=True)
class _Submitted:
    flow: str
    submitter: str
    project: str | None
    idempotency_key: str | None


@dataclass
class Ends:
    """The pure part, one partition's: admitted events in log order in, each execution's one end out. As the
    engine's fold, the first submission of an id stands and the first end ends it; an end of an execution
    this partition never submitted (or one already ended: a decision written twice) is none."""

    open: dict[str, _Submitted] = field(default_factory=dict)

    def apply(self, event: ev.Event, partition: int, offset: int) -> ExecutionEnded | None:
        """The end ``event`` is, if any; the event is applied (an end closes its execution)."""
        end = self.end_of(event, partition, offset)
        if isinstance(event.payload, ev.ExecutionSubmitted):
            self.open.setdefault(event.execution_id, _Submitted(
                event.payload.flow_name, event.payload.submitter, event.payload.project, event.payload.idempotency_key))
        elif end is not None:
            del self.open[event.execution_id]
        return end

    def end_of(self, event: ev.Event, partition: int, offset: int) -> ExecutionEnded | None:
        """The end ``event`` is, if any, without applying it (a follower applies it once it is handled)."""
        payload = event.payload
        status = END_STATUS.get(type(payload))
        submitted = self.open.get(event.execution_id) if status is not None else None
        if status is None or submitted is None:
            return None
        return ExecutionEnded(
            event.execution_id, status, submitted.flow, utc_from_ms(event.occurred_at),
            submitted.submitter, submitted.project, submitted.idempotency_key,
            tuple(getattr(payload, "failed_jobs", ())), tuple(getattr(payload, "errors", ())), event.event_id,
            partition, offset)


def admitted(settings: Settings, public_key: bytes, key: bytes | None, value: bytes | None, headers: Headers,
             at: Placement) -> ev.Event | None:
    """The event a record holds if the admission rule for ends takes it, else None (refused, or misplaced: the
    engine forwards a misplaced record to its key's partition, where it is read). The follower's only call of the
    rule, so whatever the rule comes to refuse is skipped here too."""
    try:
        return admit_end(key, value, headers, public_key, settings.schema_registry_url, at)
    except Refused:
        return None


def follower_public_key(settings: Settings, public_key: bytes | None = None, signing_key: bytes | None = None) -> bytes:
    """The public key a follower checks ends with: given, or KAFKABAN_ENGINE_PUBLIC_KEY, or derived from an engine
    key when one is given (or, with a broker on this machine only, from the development key the engine then
    signs with). Without any of them a follower could tell no end from a forgery, so it does not start."""
    if public_key is not None:
        if len(public_key) != 32:
            raise ValueError(f"an engine public key is the 32 raw bytes of an Ed25519 key, not {len(public_key)}")
        return public_key
    if settings.engine_public_key is not None:
        return settings.engine_public_key
    if signing_key is None:
        try:  # the engine key, or the development key when every broker is on this machine: the engine's own rule
            signing_key = settings.require_signing_key()
        except ConfigError as exc:
            raise ConfigError(NO_PUBLIC_KEY) from exc
    return engine_public_key(signing_key)


def check_group(settings: Settings, group: object) -> str:
    """The caller's own group: never one of Kafkaban's, whose partitions a follower would take from its parts."""
    if not isinstance(group, str) or not group or "\x00" in group:
        raise ValueError("a follower's consumer group is a non-empty name without NUL")
    prefix = settings.topic_prefix
    own = {f"{prefix}-engine", f"{prefix}-projector"}
    # as engine/kafka_acls.py names them: pools, control readers, and the read-to-end readers' fresh groups
    own_prefixes = (f"{prefix}.workers.", f"{prefix}.control.", "kafkaban-reader-", "kafkaban-catalog-",
                    "kafkaban-triggers-", "kafkaban-api-", "kafkaban-rebuild-")
    if group in own or group.startswith(own_prefixes):
        raise ValueError(f"group {group!r} is one of Kafkaban's own; a follower needs a group of its own")
    return group


class ExecutionFollower:
    """Ends of executions, read in the caller's consumer group. ``start`` is where a group with no committed
    offset begins: ``earliest`` (every end in the log) or ``latest`` (ends from now on). Ends are checked with
    ``public_key`` or what ``follower_public_key`` finds; an engine key (``signing_key``) is never needed."""

    def __init__(self, settings: Settings, group: str, start: str = "earliest",
                 signing_key: bytes | None = None, public_key: bytes | None = None) -> None:
        if start not in STARTS:
            raise ValueError(f"start is one of {', '.join(STARTS)}, not {start!r}")
        self.settings = settings
        self.group = check_group(settings, group)
        self.start = start
        self.topic = settings.executions_topic
        self.public_key = follower_public_key(settings, public_key, signing_key)
        self._consumer = Consumer(consumer_config(settings, self.group, **{
            "enable.auto.commit": False, "auto.offset.reset": start}))
        self._subscribed = False
        self._partition_count = 0
        self._ends: dict[int, Ends] = {}
        self._positions: dict[int, int] = {}  # per assigned partition: the next offset not yet handled
        self._committed: dict[int, int] = {}

    # -- reading --------------------------------------------------------------------------------------------------

    def ends(self, stop: Callable[[], bool] | None = None) -> Iterator[ExecutionEnded]:
        """Each end, in log order per partition, until ``stop()`` says so (asked after each end is handled and
        between polls; without it, for ever). An end is committed when the loop body for it has returned and the
        next one is asked for: one whose body raised, or after which the caller broke out of the loop, is read
        again by the group (to end after an end, let ``stop`` say so)."""
        self._subscribe()
        while stop is None or not stop():
            batch = self._consumer.consume(BATCH, timeout=POLL_S)
            handled = 0
            try:
                for message in batch:
                    end = None
                    if self._unhandled(message):
                        partition, offset = message.partition(), message.offset()
                        event = admitted(self.settings, self.public_key, message.key(), message.value(),
                                         message.headers(), Placement(partition, self._partition_count))
                        if event is not None:
                            ends = self._ends[partition]
                            end = ends.end_of(event, partition, offset)
                            if end is not None:
                                yield end
                            ends.apply(event, partition, offset)  # only now: an end not handled stays open
                        self._positions[partition] = offset + 1
                    handled += 1
                    if end is not None:
                        self.commit()
                        if stop is not None and stop():
                            return
            finally:
                self._rewind(batch[handled:])
            self.commit()

    def _unhandled(self, message: Message) -> bool:
        """Whether a record is of a partition this follower holds and has not handled yet."""
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return False
            raise FollowError(f"reading {self.topic}: {error}")
        partition = message.partition()
        # a partition no longer held, or a record before the position (handled already)
        return partition in self._ends and message.offset() >= self._positions[partition]

    def _rewind(self, unhandled: list[Message]) -> None:
        """The records of a batch left when the caller stopped are fetched again if it goes on reading."""
        for partition in {message.partition() for message in unhandled} & set(self._positions):
            with contextlib.suppress(KafkaException, RuntimeError):  # closed, or no longer assigned
                self._consumer.seek(TopicPartition(self.topic, partition, self._positions[partition]))

    def run(self, handle: Callable[[ExecutionEnded], None], stop: Callable[[], bool] | None = None) -> None:
        """Call ``handle`` with each end; an end is committed once ``handle`` has returned for it."""
        for end in self.ends(stop):
            handle(end)

    def position(self, partition: int) -> int:
        """The next offset of ``partition`` this follower will handle (-1 when it does not hold the partition)."""
        return self._positions.get(partition, -1)

    def assigned(self) -> list[int]:
        return sorted(self._ends)

    # -- commits and assignment -----------------------------------------------------------------------------------

    def commit(self, partitions: list[int] | None = None) -> None:
        """Commit what has been handled. A refused commit (a rebalance under way) is left for the next one: at
        worst an end is read again, never lost."""
        offsets = [TopicPartition(self.topic, p, self._positions[p]) for p in partitions or list(self._positions)
                   if p in self._positions and self._positions[p] > self._committed.get(p, -1)]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit of %s refused (%s); it is retried with the next one", self.topic, exc.args[0])
            return
        for tp in offsets:
            self._committed[tp.partition] = tp.offset

    def _subscribe(self) -> None:
        if not self._subscribed:
            self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                     on_lost=self._on_lost)
            self._subscribed = True

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metadata = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        if metadata is None or metadata.error is not None:
            raise FollowError(f"topic {self.topic} is not there: {metadata.error if metadata else 'unknown'}")
        self._partition_count = len(metadata.partitions)
        starts = []
        for tp in consumer.committed(partitions, timeout=30):
            start = tp.offset
            if start < 0:  # nothing committed: where the group's start says
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=10)
                start = low if self.start == "earliest" else high
            self._ends[tp.partition] = self._rebuilt(tp.partition, start)
            self._positions[tp.partition] = self._committed[tp.partition] = start
            starts.append(TopicPartition(self.topic, tp.partition, start))
        consumer.assign(starts)  # from exactly where the rebuild stopped

    def _rebuilt(self, partition: int, end: int) -> Ends:
        """The partition's open executions before ``end``: their submissions are there, not after it."""
        ends = Ends()
        at = Placement(partition, self._partition_count)
        for offset, key, value, headers in read_records(self.settings, self.topic, partition, end):
            event = admitted(self.settings, self.public_key, key, value, headers, at)
            if event is not None:
                ends.apply(event, partition, offset)
        return ends

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.commit([tp.partition for tp in partitions])
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # another member may own them already: committing now could move it back

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            for held in (self._ends, self._positions, self._committed):
                held.pop(tp.partition, None)

    def close(self) -> None:
        """Commit what has been handled and leave the group."""
        if self._subscribed:
            self.commit()
        self._consumer.close()

    def __enter__(self) -> ExecutionFollower:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def ended_as_json(end: ExecutionEnded) -> dict[str, Any]:
    """An end as plain JSON values (for logs and the example)."""
    return {"execution_id": end.execution_id, "status": end.status.value, "flow": end.flow,
            "ended_at": end.ended_at.isoformat(), "submitter": end.submitter, "project": end.project,
            "idempotency_key": end.idempotency_key, "failed_jobs": list(end.failed_jobs), "errors": list(end.errors),
            "partition": end.partition, "offset": end.offset}
