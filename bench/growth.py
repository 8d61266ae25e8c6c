"""Fold cost against state size, in process: the engine core without Kafka, so only the core's cost shows."""

from __future__ import annotations

import gc
import random
import time
import uuid
from typing import Any

import psutil

from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.domain.spec import FlowSpec
from engine.processor.core import EngineCore


def chain_flow(jobs: int) -> FlowSpec:
    lines = ["  - {name: j0, type: noop}"] + [f"  - {{name: j{i}, type: noop, dependsOn: [j{i - 1}]}}"
                                              for i in range(1, jobs)]
    return load_flow(f"name: chain{jobs}\nnodes:\n" + "\n".join(lines))


def _event(execution_id: str, payload: ev.Payload, producer: str, now: int) -> ev.Event:
    return ev.Event(str(uuid.uuid4()), execution_id, now, producer, payload)


def measure(live: int, jobs: int, reports: int, seed: int = 7) -> dict[str, Any]:
    """``live`` executions of a ``jobs``-job chain, each with its first job dispatched; then time ``reports``
    worker events (start + success of the next job of random executions) through EngineCore.handle."""
    rng = random.Random(seed)
    spec = chain_flow(jobs)
    digest = spec.version_hash()
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    core = EngineCore()
    now = 1_700_000_000_000
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(live)]
    for execution_id in ids:
        core.handle(_event(execution_id, ev.ExecutionSubmitted(spec.name, digest, spec), "api", now), 0, now)
    gc.collect()
    rss_after = psutil.Process().memory_info().rss
    position = dict.fromkeys(ids, 0)  # index of the job currently dispatched
    batch = []
    for _ in range(reports // 2):
        execution_id = rng.choice(ids)
        job = f"j{position[execution_id]}"
        batch.append((execution_id, job))
        position[execution_id] = min(position[execution_id] + 1, jobs - 1)
    started = time.perf_counter()
    handled = 0
    for execution_id, job in batch:
        state = core.states[execution_id]
        if state.jobs[job].status.value not in ("DISPATCHED", "QUEUED"):
            continue
        attempt = state.jobs[job].attempt
        core.handle(_event(execution_id, ev.JobStarted(job, attempt, "w"), "worker", now), 0, now)
        out = core.handle(_event(execution_id, ev.JobSucceeded(job, attempt), "worker", now), 0, now)
        for derived in out.events:  # the processor reads its own derived events back: fold only
            core.handle(derived, 0, now)
        handled += 2 + len(out.events)
    seconds = time.perf_counter() - started
    return {
        "live_executions": live,
        "jobs_per_flow": jobs,
        "events": handled,
        "seconds": round(seconds, 4),
        "events_per_s": round(handled / seconds) if seconds else None,
        "us_per_event": round(seconds / handled * 1e6, 2) if handled else None,
        "rss_mib": round((rss_after - rss_before) / 2**20, 1),
        "kib_per_execution": round((rss_after - rss_before) / 1024 / live, 2),
    }
