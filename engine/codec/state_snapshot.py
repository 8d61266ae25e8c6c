"""An execution's whole state as JSON and back, exactly: what a snapshot keeps so that a restarted engine need not
refold the log from its start. Not pickle: the snapshot topic is data, and data never becomes code.

Lossless where ``json_state`` (the API's view) is not: every field of ``ExecutionState`` and ``JobState``, the
flow spec as it was submitted. A value this module did not write (an unknown format, a missing or extra field, a
wrong type) raises ``SnapshotError``, so the reader falls back to the log.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from engine.domain.spec import FlowSpec
from engine.domain.state import ExecutionState, ExecutionStatus, JobState, JobStatus

FORMAT = 1
_JOB_FIELDS = tuple(f.name for f in fields(JobState))
_STATE_FIELDS = tuple(f.name for f in fields(ExecutionState))


class SnapshotError(ValueError):
    """A snapshot value that does not decode to a state: the reader refolds the log instead."""


def _job_to_json(job: JobState) -> dict[str, Any]:
    out = {name: getattr(job, name) for name in _JOB_FIELDS}
    out["status"] = job.status.value
    out["outputs"] = dict(job.outputs)
    return out


def state_to_snapshot(state: ExecutionState) -> dict[str, Any]:
    out = {name: getattr(state, name) for name in _STATE_FIELDS}
    out.update(status=state.status.value, flow=state.flow.to_dict(), params=dict(state.params),
               submitted_params=dict(state.submitted_params), errors=list(state.errors),
               failed=sorted(state.failed), jobs={name: _job_to_json(job) for name, job in state.jobs.items()})
    return out


def _exact_keys(data: Any, names: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != set(names):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SnapshotError(f"{what}: expected the fields {sorted(names)}, got {got}")
    return data


def state_from_snapshot(data: Any) -> ExecutionState:
    body = dict(_exact_keys(data, _STATE_FIELDS, "execution state"))
    try:
        jobs = {}
        for name, job in body["jobs"].items():
            values = dict(_exact_keys(job, _JOB_FIELDS, f"job {name!r}"))
            values["status"] = JobStatus(values["status"])
            jobs[name] = JobState(**values)
        body.update(status=ExecutionStatus(body["status"]), flow=FlowSpec.from_dict(body["flow"]), jobs=jobs,
                    errors=tuple(body["errors"]), failed=frozenset(body["failed"]))
        state = ExecutionState(**body)
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"execution state: {type(exc).__name__}: {exc}") from exc
    if set(state.jobs) != set(state.flow.by_name):
        raise SnapshotError(f"execution state {state.execution_id}: its jobs are not its flow's")
    return state


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps({"format": FORMAT, **value}, separators=(",", ":"), sort_keys=True).encode()


def decode(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise SnapshotError(f"not a snapshot record of format {FORMAT}")
    return value
