"""Execution state as JSON-ready dicts (time-travel answers, replay tooling)."""

from __future__ import annotations

import json
from typing import Any

from engine.clock import iso_from_ms
from engine.domain.state import ExecutionState


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def state_to_json(state: ExecutionState) -> dict[str, Any]:
    return {
        "execution_id": state.execution_id,
        "flow_name": state.flow.name,
        "version": state.definition_hash,
        "status": state.status.value,
        "params": dict(state.params),
        "submitter": state.submitter,
        "idempotency_key": state.idempotency_key,
        "schedule_id": state.schedule_id,
        "submitted_at": _iso(state.submitted_at),
        "started_at": _iso(state.started_at),
        "ended_at": _iso(state.ended_at),
        "errors": list(state.errors),
        "cancel_requested_by": state.cancel_requested_by,
        "jobs": [
            {"job": name, "status": job.status.value, "attempt": job.attempt, "worker_id": job.worker_id,
             "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at), "exit_code": job.exit_code,
             "error": job.error, "reason": job.reason,
             "outputs": {k: _value(v) for k, v in job.outputs.items()}}
            for name, job in sorted(state.jobs.items())
        ],
    }
