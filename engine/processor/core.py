"""The processor's in-memory part, free of Kafka: per-execution state, the deadline index, lease renewals.

What comes in from the log is handled by one rule: an event the engine derived from another (it carries a
causation id) was decided and applied when it was written, so reading it back only folds it; every other event
(submissions, cancels, worker reports, timer firings) goes through ``process`` and may lead to decisions.

An ended execution keeps its state for a grace, then only its id (and how it ended) in a bounded record, so that
memory follows the live executions, not the history: a late report about it is refused as before, a repeated
submission of it changes nothing, a late start is killed. Every change marks the execution dirty for the next
snapshot of its partition (``engine.processor.snapshots``).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from engine.domain import events as ev
from engine.domain.commands import Command, DispatchJob
from engine.domain.evolve import evolve
from engine.domain.process import ended_reply, process, recovery_commands, timer_event
from engine.domain.react import dispatch_command
from engine.domain.state import ExecutionState, JobStatus
from engine.domain.timers import Timer, TimerKind, job_timers

LeaseKey = tuple[str, str, int]  # execution id, job, attempt
DISPATCH_TIMEOUT_MS = 120_000
DISPATCH_TIMEOUT_MAX_MS = 30 * 60_000
TAKEOVER_GRACE_MS = 10_000
ENDED_GRACE_MS = 300_000
ENDED_KEPT = 100_000
# what a snapshot holds of one execution: its state, how it ended (state forgotten), or nothing (id forgotten too)
Kept = ExecutionState | str | None


@dataclass
class Output:
    events: list[ev.Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    unknown_execution: bool = False  # the event names an execution this instance has never seen


class EngineCore:
    def __init__(self, dispatch_timeout_ms: int = DISPATCH_TIMEOUT_MS, ended_grace_ms: int = ENDED_GRACE_MS,
                 ended_kept: int = ENDED_KEPT, snapshots: bool = True) -> None:
        self.dispatch_timeout_ms = dispatch_timeout_ms
        self.ended_grace_ms, self.ended_kept = ended_grace_ms, ended_kept
        self.snapshots = snapshots  # without them nothing takes what is dirty, so nothing is marked
        # ended executions whose state was let go: id -> (partition, final status), oldest first, at most ended_kept
        self.ended: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._ending: list[tuple[int, str]] = []  # (when its state may go, execution id), a heap
        self.dirty: dict[str, int] = {}  # execution id -> partition: changed since the partition's last snapshot
        # attempts dispatched and not yet started: when one is not started by its deadline its command is sent
        # again (it may have been lost), with the wait doubling each time; kept apart from the log's timers
        # because a re-send decides nothing: workers drop a dispatch they hold, the engine fences by attempt
        self._dispatch_heap: list[tuple[int, int, LeaseKey, int]] = []
        self._dispatch_due: dict[LeaseKey, int] = {}
        self.states: dict[str, ExecutionState] = {}
        self.partition_of: dict[str, int] = {}
        self._heap: list[tuple[int, int, Timer]] = []
        self._seq = 0
        self._lease_deadline: dict[LeaseKey, int] = {}
        # the attempts of each execution that have a lease or a dispatch deadline, so that forgetting an ended
        # execution costs its own, not a scan of every live one (that scan slowed the engine as work piled up)
        self._attempts_of: dict[str, set[LeaseKey]] = {}
        self._fired: dict[str, set[str]] = {}  # execution id -> timer events written, forgotten when it ends

    # -- the log ------------------------------------------------------------------------------------------------

    def fold_only(self, event: ev.Event, partition: int, now: int) -> None:
        """Rebuild path: apply without deciding."""
        if event.execution_id in self.ended:
            return
        before = self.states.get(event.execution_id)
        after = evolve(before, event)
        if after is not None and after is not before:
            self._keep(after, partition, now)

    def handle(self, event: ev.Event, partition: int, now: int) -> Output:
        state = self.states.get(event.execution_id)
        if event.producer == "engine" and event.causation_id is not None:
            self.fold_only(event, partition, now)
            return Output()
        if state is None and event.execution_id in self.ended:
            return Output(commands=ended_reply(event))
        if state is None and not isinstance(event.payload, ev.ExecutionSubmitted):
            return Output(unknown_execution=True)
        step = process(state, event, now)
        if not step.changed or step.state is None:
            return Output(commands=step.commands)  # a stale start changes nothing, yet its worker must stop
        self._keep(step.state, partition, now)
        touched = {getattr(e.payload, "job", None) for e in (event, *step.events)} - {None}
        self._schedule(step.state, touched, now)  # type: ignore[arg-type]
        if step.state.terminal:
            self._forget_timers(event.execution_id)
        return Output(events=step.events, commands=step.commands)

    def _keep(self, state: ExecutionState, partition: int, now: int) -> None:
        self.states[state.execution_id] = state
        self.partition_of[state.execution_id] = partition
        self._mark(state.execution_id, partition)
        if state.terminal:
            ended_at = state.ended_at if state.ended_at is not None else now
            heapq.heappush(self._ending, (ended_at + self.ended_grace_ms, state.execution_id))

    # -- ended executions ---------------------------------------------------------------------------------------

    def evict(self, now: int) -> int:
        """Let go of the state of executions ended more than the grace ago, keeping their ids; returns how many."""
        evicted = 0
        while self._ending and self._ending[0][0] <= now:
            _, execution_id = heapq.heappop(self._ending)
            state = self.states.get(execution_id)
            if state is None or not state.terminal:
                continue
            partition = self.partition_of.pop(execution_id)
            del self.states[execution_id]
            self._forget_timers(execution_id)
            self._remember_ended(execution_id, partition, state.status.value)
            evicted += 1
        return evicted

    def _remember_ended(self, execution_id: str, partition: int, status: str) -> None:
        self.ended[execution_id] = (partition, status)
        self.ended.move_to_end(execution_id)
        self._mark(execution_id, partition)
        while len(self.ended) > self.ended_kept:
            oldest, (its_partition, _) = self.ended.popitem(last=False)
            self._mark(oldest, its_partition)  # its snapshot record goes too

    def _mark(self, execution_id: str, partition: int) -> None:
        if self.snapshots:
            self.dirty[execution_id] = partition

    def kept(self, execution_id: str) -> Kept:
        """What this core holds of an execution, as a snapshot keeps it."""
        state = self.states.get(execution_id)
        if state is not None:
            return state
        ended = self.ended.get(execution_id)
        return ended[1] if ended is not None else None

    def take_dirty(self, partition: int) -> list[tuple[str, Kept]]:
        """The executions of ``partition`` changed since the last call, with what is kept of each now."""
        taken = [eid for eid, p in self.dirty.items() if p == partition]
        for eid in taken:
            del self.dirty[eid]
        return [(eid, self.kept(eid)) for eid in taken]

    def counts(self, partition: int) -> tuple[int, int]:
        """(states, ended ids) held for ``partition``."""
        return (sum(1 for p in self.partition_of.values() if p == partition),
                sum(1 for p, _ in self.ended.values() if p == partition))

    def load(self, partition: int, states: dict[str, ExecutionState], ended: dict[str, str], now: int) -> None:
        """Start a rebuild from a snapshot of ``partition``; nothing of it is dirty (the snapshot holds it)."""
        for execution_id, state in states.items():
            self._keep(state, partition, now)
            self.dirty.pop(execution_id, None)
        for execution_id, status in ended.items():
            self._remember_ended(execution_id, partition, status)
            self.dirty.pop(execution_id, None)

    # -- timers -------------------------------------------------------------------------------------------------

    def _schedule(self, state: ExecutionState, jobs: set[str], now: int, fresh_lease: bool = False) -> None:
        for name in jobs:
            if name not in state.jobs:
                continue
            job = state.jobs[name]
            if job.status is JobStatus.DISPATCHED:
                self._await_start((state.execution_id, name, job.attempt), now, self.dispatch_timeout_ms)
            for timer in job_timers(state, name):
                if timer.kind is TimerKind.LEASE:
                    key = (timer.execution_id, timer.job, timer.attempt)
                    # the lease runs on this processor's clock from when it learnt of the attempt, not the worker's
                    if key not in self._lease_deadline or fresh_lease:
                        lease_ms = state.flow.by_name[name].lease_ms
                        self._lease_deadline[key] = now + lease_ms
                        self._attempts_of.setdefault(timer.execution_id, set()).add(key)
                    timer = replace(timer, due_at=self._lease_deadline[key])
                self._push(timer)

    def _push(self, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (timer.due_at, self._seq, timer))

    def renew(self, execution_id: str, job: str, attempt: int, now: int) -> bool:
        """A heartbeat: push the lease of a running attempt back. False when the attempt is not running here."""
        state = self.states.get(execution_id)
        if state is None or job not in state.jobs or state.jobs[job].attempt != attempt:
            return False
        key = (execution_id, job, attempt)
        if key not in self._lease_deadline:
            return False
        self._lease_deadline[key] = now + state.flow.by_name[job].lease_ms
        self._push(Timer(execution_id, job, attempt, TimerKind.LEASE, self._lease_deadline[key]))
        return True

    def due(self, now: int) -> list[ev.Event]:
        """Timer events to write to the log now. Each is written once; reading it back makes the decisions."""
        out: list[ev.Event] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, timer = heapq.heappop(self._heap)
            if timer.kind is TimerKind.LEASE:
                deadline = self._lease_deadline.get((timer.execution_id, timer.job, timer.attempt))
                if deadline is None or deadline > now:
                    continue  # renewed since, or no longer running
            state = self.states.get(timer.execution_id)
            event = timer_event(state, timer, now)
            fired = self._fired.setdefault(timer.execution_id, set())
            if event is None or event.event_id in fired:
                continue
            fired.add(event.event_id)
            out.append(event)
        return out

    def _await_start(self, key: LeaseKey, now: int, wait_ms: int) -> None:
        if key in self._dispatch_due:
            return
        self._dispatch_due[key] = now + wait_ms
        self._attempts_of.setdefault(key[0], set()).add(key)
        self._seq += 1
        heapq.heappush(self._dispatch_heap, (now + wait_ms, self._seq, key, wait_ms))

    def resend_due(self, now: int) -> list[Command]:
        """Dispatches whose attempt has not started by its deadline, to send again."""
        out: list[Command] = []
        while self._dispatch_heap and self._dispatch_heap[0][0] <= now:
            due, _, key, wait_ms = heapq.heappop(self._dispatch_heap)
            if self._dispatch_due.get(key) != due:
                continue
            del self._dispatch_due[key]
            execution_id, name, attempt = key
            state = self.states.get(execution_id)
            job = state.jobs.get(name) if state is not None else None
            if state is None or state.terminal or job is None or job.attempt != attempt \
                    or job.status is not JobStatus.DISPATCHED:
                continue
            out.append(dispatch_command(state, name))
            self._await_start(key, now, min(wait_ms * 2, DISPATCH_TIMEOUT_MAX_MS))
        return out

    def _forget_timers(self, execution_id: str) -> None:
        self._forget_all({execution_id})

    def _forget_all(self, execution_ids: set[str]) -> None:
        for execution_id in execution_ids:
            for key in self._attempts_of.pop(execution_id, ()):
                self._lease_deadline.pop(key, None)
                self._dispatch_due.pop(key, None)
            self._fired.pop(execution_id, None)

    # -- partitions ---------------------------------------------------------------------------------------------

    def adopt(self, rebuilt: EngineCore, partitions: set[int], now: int) -> list[Command]:
        """Take over the executions a rebuild folded for ``partitions`` and schedule their deadlines (running
        attempts get a fresh lease: this processor has heard nothing of them yet). Returns the kills to send
        again, and arms a short deadline for each dispatched attempt: the previous owner may have died between
        writing an event and sending its command."""
        resend: list[Command] = []
        for execution_id, (partition, status) in rebuilt.ended.items():
            if partition in partitions:
                self._remember_ended(execution_id, partition, status)
                self.dirty.pop(execution_id, None)
        for execution_id, partition in rebuilt.dirty.items():
            if partition in partitions:
                self._mark(execution_id, partition)  # refolded past the snapshot: the next one writes it
        for execution_id, partition in rebuilt.partition_of.items():
            if partition in partitions:
                state = rebuilt.states[execution_id]
                self.states[execution_id] = state
                self.partition_of[execution_id] = partition
                if state.terminal:
                    ended_at = state.ended_at if state.ended_at is not None else now
                    heapq.heappush(self._ending, (ended_at + self.ended_grace_ms, execution_id))
                    continue
                # a dispatch is sent again only if its attempt is still not started after a grace: the records
                # past the committed offset (often that attempt's JobStarted) are read in the meantime, and a
                # dispatch sent at once would start a second copy of an attempt already running
                for name, job in state.jobs.items():
                    if job.status is JobStatus.DISPATCHED:
                        self._await_start((execution_id, name, job.attempt), now, TAKEOVER_GRACE_MS)
                self._schedule(state, set(state.jobs), now, fresh_lease=True)
                resend += [c for c in recovery_commands(state) if not isinstance(c, DispatchJob)]
        return resend

    def drop_partitions(self, partitions: set[int]) -> None:
        gone = {eid for eid, p in self.partition_of.items() if p in partitions}
        for eid in gone:
            self.states.pop(eid, None)
            self.partition_of.pop(eid, None)
        for eid in [eid for eid, (p, _) in self.ended.items() if p in partitions]:
            del self.ended[eid]
        self.dirty = {eid: p for eid, p in self.dirty.items() if p not in partitions}
        self._ending = [item for item in self._ending if item[1] not in gone]
        heapq.heapify(self._ending)
        self._forget_all(gone)
        self._heap = [item for item in self._heap if item[2].execution_id not in gone]
        heapq.heapify(self._heap)
        self._dispatch_heap = [item for item in self._dispatch_heap if item[2][0] not in gone]
        heapq.heapify(self._dispatch_heap)
