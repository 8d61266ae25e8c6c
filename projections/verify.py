"""Replay verify: fold the executions log with the engine's own ``evolve`` and compare with the projection.

The projection is read in one REPEATABLE READ snapshot together with its positions, and the log is folded up to
exactly those positions, so a projector running meanwhile causes no false alarm.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.codec.admission import Misplaced, Refused, admit
from engine.codec.partitioning import Placement
from engine.config import VERIFY_MAX_LAG as DEFAULT_MAX_LAG
from engine.config import Settings
from engine.domain.evolve import evolve
from engine.domain.state import ExecutionState
from engine.log_reader import high_watermarks, partitions_of, read_records
from projections.db import connect
from projections.nul import clean

Progress = Callable[[int, int, float], None]


@dataclass
class VerifyReport:
    events: int = 0
    refused: int = 0  # records no reader folds (the engine dead-letters them)
    misplaced: int = 0  # records on another partition than their key's: folded from the copy the engine forwards
    executions: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lag: int = 0  # records of the executions topic the projector has not written yet
    max_lag: int = DEFAULT_MAX_LAG

    @property
    def lagging(self) -> bool:
        return self.lag > self.max_lag

    @property
    def ok(self) -> bool:
        # views that match the log only up to a point far behind it are not verified: the projector is dead, stuck
        # or overwhelmed, and that is what an auditor must hear
        return not self.mismatches and not self.lagging


def verify(settings: Settings, progress: Progress | None = None, max_lag: int = DEFAULT_MAX_LAG) -> VerifyReport:
    report = VerifyReport(max_lag=max_lag)
    started = time.monotonic()
    topic = settings.executions_topic
    with connect(settings.require_database(), settings.database_schema) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        positions = dict(conn.execute("SELECT partition, next_offset FROM projector_offsets WHERE topic = %s",
                                      (topic,)).fetchall())
        projected = {row[0]: row[1] for row in conn.execute("SELECT execution_id, status FROM executions")}
        projected_jobs = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
            "SELECT execution_id, job, status, attempt FROM jobs")}
    total = sum(positions.values())
    highs = high_watermarks(settings, topic)
    report.lag = sum(max(high - positions.get(partition, 0), 0) for partition, high in highs.items())
    states: dict[str, ExecutionState | None] = {}
    signing_key = settings.require_signing_key()
    last = 0.0
    partitions = partitions_of(settings, topic)
    for partition in partitions:
        at = Placement(partition, len(partitions))
        for _, key, value, headers in read_records(settings, topic, partition, end=positions.get(partition, 0)):
            report.events += 1
            try:
                event = admit(key, value, headers, signing_key, settings.schema_registry_url, at)
            except Misplaced:
                report.misplaced += 1
                continue
            except Refused:
                report.refused += 1
                continue
            shown = clean(event.execution_id)  # as the views hold it
            folded = evolve(states.get(shown), event)
            if folded is not None:
                states[shown] = folded
            now = time.monotonic()
            if progress and now - last > 0.5:
                progress(report.events, total, now - started)
                last = now
    if progress:
        progress(report.events, total, time.monotonic() - started)
    for execution_id, state in sorted(states.items()):
        assert state is not None
        report.executions += 1
        status = projected.get(execution_id)
        if status is None:
            report.mismatches.append(f"{execution_id}: in the log ({state.status.value}), not in the projection")
            continue
        if status != state.status.value:
            report.mismatches.append(f"{execution_id}: projection says {status}, the log says {state.status.value}")
        for name, job in state.jobs.items():
            row = projected_jobs.get((execution_id, clean(name)))
            if row is None:
                report.mismatches.append(f"{execution_id}/{name}: missing from the projection")
            elif row != (job.status.value, job.attempt):
                report.mismatches.append(f"{execution_id}/{name}: projection says {row[0]} attempt {row[1]}, "
                                         f"the log says {job.status.value} attempt {job.attempt}")
    for execution_id in sorted(set(projected) - set(states)):
        report.mismatches.append(f"{execution_id}: in the projection, not in the log")
    report.seconds = time.monotonic() - started
    return report


__all__ = ["VerifyReport", "verify"]
