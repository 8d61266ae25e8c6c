"""react(state, event, now) -> (events, commands): the decisions an applied event calls for.

``state`` already has ``event`` applied. Pure: time comes in as ``now`` (UTC ms), ids are made by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.domain import cascade, conditions
from engine.domain import events as ev
from engine.domain.commands import Command, DispatchJob, KillJob, ReportRunEnded
from engine.domain.ids import execution_id_for_key, unit_interval
from engine.domain.spec import JobSpec
from engine.domain.state import ExecutionState, ExecutionStatus, JobState, JobStatus
from engine.domain.validation import param_problems, validate

Decisions = cascade.Decisions[ev.Payload, Command]


Reactor = Callable[[ExecutionState, ev.Event, Any, int], Decisions]


def react(state: ExecutionState | None, event: ev.Event, now: int) -> Decisions:
    if state is None:
        return Decisions()
    return REACTORS[type(event.payload)](state, event, event.payload, now)


def submission_problems(state: ExecutionState, event: ev.Event, p: ev.ExecutionSubmitted) -> list[str]:
    problems = [str(problem) for problem in validate(p.definition)]
    version = p.definition.version_hash()  # canonical JSON of the whole DAG: computed once
    if p.definition_hash != version:
        problems.append(f"definition_hash {p.definition_hash!r} does not match the definition ({version})")
    if p.flow_name != p.definition.name:
        problems.append(f"flow_name {p.flow_name!r} differs from the definition's name {p.definition.name!r}")
    if p.idempotency_key is not None:
        expected = execution_id_for_key(p.flow_name, p.idempotency_key, p.project)
        if event.execution_id != expected:
            problems.append(f"with idempotency key {p.idempotency_key!r} the execution id must be {expected}")
    return problems + param_problems(p.definition, p.params)


def _on_submitted(state: ExecutionState, event: ev.Event, p: ev.ExecutionSubmitted, now: int) -> Decisions:
    if state.submitted_event_id != event.event_id or state.status is not ExecutionStatus.SUBMITTED:
        return Decisions()  # a second submission under the same id: the first one stands
    problems = submission_problems(state, event, p)
    if problems:
        return Decisions(events=[ev.ExecutionRejected(tuple(problems))])
    out = Decisions()
    for name in state.flow.roots:
        _consider(state, name, now, out)
    return out


def _consider(state: ExecutionState, name: str, now: int, out: Decisions) -> None:
    """A PENDING job whose parents have all ended: queue it, skip it, or (when stopping) cancel it."""
    job = state.jobs[name]
    spec = state.flow.by_name[name]
    if job.status is not JobStatus.PENDING:
        return
    parents = [state.jobs[parent] for parent in spec.depends_on]
    if any(parent.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED)
           for parent in parents):
        return
    if state.stop_mode() is not None:
        out.events.append(ev.JobCancelled(name, 0, _stop_reason(state)))
        return
    view = conditions.ParentView(
        statuses=tuple(parent.status.value for parent in parents),
        outputs={parent: state.jobs[parent].outputs for parent in _condition_jobs(spec)},
    )
    if conditions.holds(spec.condition, view):
        out.events.append(ev.JobQueued(name, 1))
    elif not conditions.names_a_macro(spec.condition) and not conditions.macro_holds(conditions.DEFAULT_MACRO,
                                                                                      view.statuses):
        failed = [p for p in spec.depends_on if state.jobs[p].status is not JobStatus.SUCCEEDED]
        out.events.append(ev.JobSkipped(name, "upstream not successful: " + ", ".join(failed)))
    else:
        out.events.append(ev.JobSkipped(name, f"condition is false: {spec.condition}"))


def _condition_jobs(spec: JobSpec) -> list[str]:
    if spec.condition is None:
        return []
    return [ref.job for ref in conditions.refs(conditions.parse(spec.condition))]


def _stop_reason(state: ExecutionState) -> str:
    if state.cancelling:
        return f"execution cancelled by {state.cancel_requested_by}"
    failed = ", ".join(sorted(state.unhandled_failures))
    return f"failure policy {state.flow.failure_policy.value} after {failed} failed"


def _on_queued(state: ExecutionState, event: ev.Event, p: ev.JobQueued, now: int) -> Decisions:
    job = state.jobs[p.job]
    if job.status is not JobStatus.QUEUED or job.attempt != p.attempt:
        return Decisions()
    if state.stop_mode() is not None:
        return Decisions(events=[ev.JobCancelled(p.job, p.attempt, _stop_reason(state))])
    spec = state.flow.by_name[p.job]
    return Decisions(
        events=[ev.JobDispatched(p.job, p.attempt, spec.pool, spec.lease_ms)],
        commands=[dispatch_command(state, p.job)],
    )


def dispatch_command(state: ExecutionState, name: str) -> DispatchJob:
    spec = state.flow.by_name[name]
    inputs = {f"{parent}:{key}": value for parent in _upstream(state, name)
              for key, value in state.jobs[parent].outputs.items()}
    return DispatchJob(
        execution_id=state.execution_id, job=name, attempt=state.jobs[name].attempt, pool=spec.pool,
        type=spec.type, config=spec.config, params=state.params, inputs=inputs, timeout_ms=spec.timeout_ms,
        lease_ms=spec.lease_ms, cpu=spec.cpu, memory_mb=spec.memory_mb, flow_name=state.flow.name,
        flow_started_at=_flow_start(state),
        project=state.project, archive=state.archive,
    )


def _flow_start(state: ExecutionState) -> int:
    """What Azkaban's azkaban.flow.start.* say: a scheduled execution's logical time (the tick it runs for, as a
    backfilled or caught-up run needs it), else when it started."""
    if state.logical_time is not None:
        return state.logical_time
    return state.started_at if state.started_at is not None else state.submitted_at


def _upstream(state: ExecutionState, name: str) -> tuple[str, ...]:
    return state.flow.by_name[name].depends_on


def _on_started(state: ExecutionState, event: ev.Event, p: ev.JobStarted, now: int) -> Decisions:
    if state.stop_mode() == "kill":
        return Decisions(commands=[KillJob(state.execution_id, p.job, p.attempt, _stop_reason(state))])
    return Decisions()


def _on_attempt_failed(state: ExecutionState, event: ev.Event, p: Any, now: int) -> Decisions:
    """JobFailed, JobTimedOut and JobLost: retry, or settle the job as failed (or cancelled, when killed)."""
    out = Decisions()
    job = state.jobs[p.job]
    if isinstance(p, ev.JobTimedOut | ev.JobLost):
        reason = "timed out" if isinstance(p, ev.JobTimedOut) else "lease expired"
        out.commands.append(KillJob(state.execution_id, p.job, p.attempt, reason))
    mode = state.stop_mode(ignoring=p.job)
    if mode == "kill":
        out.events.append(ev.JobCancelled(p.job, p.attempt, _stop_reason(state)))
        return out
    spec = state.flow.by_name[p.job]
    if mode is None and _may_retry(job, spec, lost=isinstance(p, ev.JobLost)):
        not_before = now + backoff_ms(spec, state.execution_id, job.attempt + 1)
        out.events.append(ev.JobRetryScheduled(p.job, job.attempt + 1, not_before))
        return out
    # the first unhandled failure for good stops the flow
    if state.stop_mode() is not None and state.unhandled_failures == {p.job}:
        out.events += _stop_waiting(state, exclude=p.job)
        if state.stop_mode() == "kill":
            out.commands += [kill for kill in _kill_running(state) if kill.job != p.job]
    _progress(state, p.job, now, out)
    return out


def _may_retry(job: JobState, spec: JobSpec, lost: bool) -> bool:
    if lost:
        return job.lost_attempts <= spec.retry.max_lost
    return job.attempt - job.lost_attempts < spec.retry.max_attempts


def backoff_ms(spec: JobSpec, execution_id: str, attempt: int) -> int:
    """Delay before ``attempt`` (>= 2): base * 2**(attempt-2), capped, spread by deterministic jitter."""
    retry = spec.retry
    delay = min(retry.backoff_base_ms * 2 ** max(attempt - 2, 0), retry.backoff_max_ms)
    spread = (unit_interval(f"{execution_id}/{spec.name}/{attempt}") * 2 - 1) * retry.jitter
    return max(0, round(delay * (1 + spread)))


def _stop_waiting(state: ExecutionState, exclude: str | None = None) -> list[ev.Payload]:
    reason = _stop_reason(state)
    out: list[ev.Payload] = []
    for name, job in state.jobs.items():
        if name == exclude:
            continue
        if job.status in (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RETRY_WAIT):
            out.append(ev.JobCancelled(name, job.attempt, reason))
        elif job.status is JobStatus.DISPATCHED and state.stop_mode() == "kill":
            out.append(ev.JobCancelled(name, job.attempt, reason))
    return out


def _kill_running(state: ExecutionState) -> list[Command]:
    reason = _stop_reason(state)
    return [KillJob(state.execution_id, name, job.attempt, reason)
            for name, job in state.jobs.items() if job.status in (JobStatus.DISPATCHED, JobStatus.RUNNING)]


def _on_job_ended(state: ExecutionState, event: ev.Event, p: Any, now: int) -> Decisions:
    """JobSucceeded, JobSkipped, JobCancelled: consider the children, then the execution."""
    out = Decisions()
    _progress(state, p.job, now, out)
    return out


def _progress(state: ExecutionState, name: str, now: int, out: Decisions) -> None:
    for child in state.flow.children[name]:
        _consider(state, child, now, out)
    if not out.events:
        out.events += _finish(state)


def _finish(state: ExecutionState) -> list[ev.Payload]:
    if state.unfinished or state.terminal:
        return []
    if state.cancelling:
        return [ev.ExecutionCancelled()]
    if state.unhandled_failures:
        return [ev.ExecutionFailed(tuple(sorted(state.unhandled_failures)))]
    # Azkaban's finalizeFlow: an end job that did not succeed (a condition skipped it) ends the flow KILLED
    # there; Kafkaban has no KILLED and fails it, naming those end jobs
    not_done = tuple(name for name in state.flow.end_jobs if state.jobs[name].status is not JobStatus.SUCCEEDED)
    if not_done:
        return [ev.ExecutionFailed(not_done)]
    return [ev.ExecutionSucceeded()]


def _on_retry_scheduled(state: ExecutionState, event: ev.Event, p: ev.JobRetryScheduled, now: int) -> Decisions:
    if p.not_before <= now:
        return Decisions(events=[ev.JobQueued(p.job, p.attempt)])
    return Decisions()


def _on_cancel_requested(state: ExecutionState, event: ev.Event, p: ev.CancelRequested, now: int) -> Decisions:
    out = Decisions(events=_stop_waiting(state), commands=_kill_running(state))
    if not out.events:
        out.events += _finish(state)
    return out


def _on_ended(state: ExecutionState, event: ev.Event, p: Any, now: int) -> Decisions:
    """An execution a schedule started tells the schedule it has ended (its overlap policy waits for that)."""
    if state.schedule_id is None or state.logical_time is None:
        return Decisions()
    detail = ("; ".join(state.errors) or None) if isinstance(p, ev.ExecutionRejected) else None
    return Decisions(commands=[ReportRunEnded(state.schedule_id, state.execution_id, state.logical_time,
                                              state.status.value, detail)])


def _nothing(state: ExecutionState, event: ev.Event, p: Any, now: int) -> Decisions:
    return Decisions()


REACTORS: Mapping[type, Reactor] = {
    ev.ExecutionSubmitted: _on_submitted,
    ev.ExecutionRejected: _on_ended,
    ev.JobQueued: _on_queued,
    ev.JobDispatched: _nothing,  # the DispatchJob command went out with the decision to dispatch
    ev.JobStarted: _on_started,
    ev.JobSucceeded: _on_job_ended,
    ev.JobFailed: _on_attempt_failed,
    ev.JobRetryScheduled: _on_retry_scheduled,
    ev.JobTimedOut: _on_attempt_failed,
    ev.JobLost: _on_attempt_failed,
    ev.JobSkipped: _on_job_ended,
    ev.JobCancelled: _on_job_ended,
    ev.CancelRequested: _on_cancel_requested,
    ev.ExecutionSucceeded: _on_ended,
    ev.ExecutionFailed: _on_ended,
    ev.ExecutionCancelled: _on_ended,
}
