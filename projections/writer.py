"""Turns decoded records into rows. Runs inside the projector's transaction; knows nothing of Kafka."""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from engine.clock import utc_from_ms
from engine.codec.json_events import event_to_json
from engine.codec.records import plain_record
from engine.domain import events as ev
from engine.domain.evolve import evolve
from engine.domain.loader import check_flow
from engine.domain.state import ExecutionState
from engine.kafka import dead_letter_origin
from projections.queries import event_from_row, execution_events


def ts(ms: int | None) -> dt.datetime | None:
    return None if ms is None else utc_from_ms(ms)


class ExecutionWriter:
    """Folds execution events with the engine's own ``evolve`` and writes the resulting rows."""

    def __init__(self, cache_size: int = 10_000) -> None:
        self.cache: OrderedDict[str, ExecutionState | None] = OrderedDict()
        self.cache_size = cache_size

    def forget(self) -> None:
        self.cache.clear()

    def _state(self, conn: psycopg.Connection, execution_id: str) -> ExecutionState | None:
        if execution_id in self.cache:
            self.cache.move_to_end(execution_id)
            return self.cache[execution_id]
        state = None
        for row in execution_events(conn, execution_id):
            state = evolve(state, event_from_row(row))
        return state

    def _remember(self, execution_id: str, state: ExecutionState | None) -> None:
        self.cache[execution_id] = state
        self.cache.move_to_end(execution_id)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def write_batch(self, conn: psycopg.Connection, items: list[tuple[ev.Event, str, int, int]]) -> int:
        """Store the events (in log order) and update the views, with one statement per table for the whole
        batch; an event already stored (same event_id) changes nothing. Returns how many were new."""
        if not items:
            return 0
        ids = [event.event_id for event, *_ in items]
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events WHERE event_id = ANY(%s)", (ids,))}
        event_rows: list[tuple[Any, ...]] = []
        executions: dict[str, tuple[Any, ...]] = {}
        jobs: dict[tuple[str, str], tuple[Any, ...]] = {}
        runs: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        for event, topic, partition, offset in items:
            if event.event_id in stored:
                continue
            stored.add(event.event_id)
            before = self._state(conn, event.execution_id)  # this batch's earlier events are in the cache
            event_rows.append((event.event_id, event.execution_id, topic, partition, offset, event.type,
                               event.producer, ts(event.occurred_at), event.causation_id, event.correlation_id,
                               Jsonb(event_to_json(event)["payload"])))
            after = evolve(before, event)
            self._remember(event.execution_id, after)
            if after is None or after is before:
                continue
            executions[after.execution_id] = _execution_row(after, offset)
            if isinstance(event.payload, ev.ExecutionSubmitted):
                touched = list(after.jobs)
            else:
                job = getattr(event.payload, "job", None)
                touched = [job] if job in after.jobs else []
            for name in touched:
                job_row, run_row = _job_rows(after, name, offset)
                jobs[(after.execution_id, name)] = job_row
                if run_row is not None:
                    runs[(after.execution_id, name, run_row[2])] = run_row
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (event_id, execution_id, topic, partition, \"offset\", type, producer, "
                "occurred_at, causation_id, correlation_id, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s) ON CONFLICT (event_id) DO NOTHING", event_rows)
            # the WHERE guards keep an older event (a replay, a late duplicate) from overwriting a newer state
            cur.executemany(
                "INSERT INTO executions (execution_id, flow_name, version, status, params, submitter, "
                "idempotency_key, schedule_id, logical_time, submitted_at, started_at, ended_at, errors, "
                "cancel_requested_by, position, project, archive, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT (execution_id) DO UPDATE SET "
                "status = EXCLUDED.status, "
                "started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, errors = EXCLUDED.errors, "
                "cancel_requested_by = EXCLUDED.cancel_requested_by, position = EXCLUDED.position, "
                "updated_at = now() WHERE executions.position < EXCLUDED.position", list(executions.values()))
            cur.executemany(
                "INSERT INTO jobs (execution_id, job, status, attempt, pool, worker_id, started_at, ended_at, "
                "exit_code, error, reason, outputs, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s) ON CONFLICT (execution_id, job) DO UPDATE SET status = EXCLUDED.status, "
                "attempt = EXCLUDED.attempt, worker_id = EXCLUDED.worker_id, started_at = EXCLUDED.started_at, "
                "ended_at = EXCLUDED.ended_at, exit_code = EXCLUDED.exit_code, error = EXCLUDED.error, "
                "reason = EXCLUDED.reason, outputs = EXCLUDED.outputs, position = EXCLUDED.position "
                "WHERE jobs.position < EXCLUDED.position", list(jobs.values()))
            cur.executemany(
                "INSERT INTO job_runs (execution_id, job, attempt, status, pool, worker_id, started_at, "
                "ended_at, exit_code, error, outputs, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s) ON CONFLICT (execution_id, job, attempt) DO UPDATE SET status = EXCLUDED.status, "
                "worker_id = EXCLUDED.worker_id, started_at = EXCLUDED.started_at, "
                "ended_at = EXCLUDED.ended_at, exit_code = EXCLUDED.exit_code, error = EXCLUDED.error, "
                "outputs = EXCLUDED.outputs, position = EXCLUDED.position "
                "WHERE job_runs.position < EXCLUDED.position", list(runs.values()))
        return len(event_rows)


def _execution_row(s: ExecutionState, position: int) -> tuple[Any, ...]:
    return (s.execution_id, s.flow.name, s.definition_hash, s.status.value, Jsonb(dict(s.params)), s.submitter,
            s.idempotency_key, s.schedule_id, ts(s.logical_time), ts(s.submitted_at), ts(s.started_at),
            ts(s.ended_at), Jsonb(list(s.errors)), s.cancel_requested_by, position, s.project, s.archive)


def _job_rows(s: ExecutionState, name: str, position: int) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    job = s.jobs[name]
    pool = s.flow.by_name[name].pool
    outputs = Jsonb({k: _json_value(v) for k, v in job.outputs.items()})
    job_row = (s.execution_id, name, job.status.value, job.attempt, pool, job.worker_id, ts(job.started_at),
               ts(job.ended_at), job.exit_code, job.error, job.reason, outputs, position)
    run_row = None
    if job.attempt > 0:
        run_row = (s.execution_id, name, job.attempt, job.status.value, pool, job.worker_id, ts(job.started_at),
                   ts(job.ended_at), job.exit_code, job.error, outputs, position)
    return job_row, run_row


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def write_definition(conn: psycopg.Connection, decoded: dict[str, Any]) -> None:
    """A record of the definitions topic: a flow registered, or a project uploaded."""
    if decoded["payload"][0].endswith("ProjectUploaded"):
        write_project_upload(conn, decoded)
    else:
        write_flow(conn, decoded)


def write_project_upload(conn: psycopg.Connection, decoded: dict[str, Any]) -> None:
    record = plain_record(decoded)
    body = record["payload"]
    conn.execute(
        "INSERT INTO project_uploads (project, archive_sha256, archive_size, flow_version, flows, sources, "
        "uploaded_by, uploaded_at, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (record["flow_name"], body["archive_sha256"], body["archive_size"], body["flow_version"],
         Jsonb(dict(body["flows"])), Jsonb(dict(body["sources"])), body["uploaded_by"], ts(record["occurred_at"]),
         record["event_id"]),
    )


def write_flow(conn: psycopg.Connection, decoded: dict[str, Any]) -> None:
    record = plain_record(decoded)
    body = record["payload"]
    spec, _ = check_flow(body["source"], default_name=record["flow_name"])
    jobs = len(spec.jobs) if spec is not None else 0
    conn.execute(
        "INSERT INTO flows (name, version, source, jobs, registered_by, registered_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (name, version) DO NOTHING",
        (record["flow_name"], body["definition_hash"], body["source"], jobs, body["registered_by"],
         ts(record["occurred_at"])),
    )


def write_dead_letter(conn: psycopg.Connection, topic: str, partition: int, offset: int,
                      headers: dict[str, bytes], key: bytes | None, value: bytes | None) -> None:
    # read as the API reads them: a header someone wrote that is not a number is None, not a projector that stops
    reason, source_topic, source_partition, source_offset = dead_letter_origin(headers.items())
    conn.execute(
        "INSERT INTO deadletters (topic, partition, \"offset\", reason, source_topic, source_partition, "
        "source_offset, key, value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (topic, partition, offset, reason or "unknown", source_topic, source_partition, source_offset, key, value),
    )


def write_log_line(conn: psycopg.Connection, decoded: dict[str, Any]) -> None:
    record = plain_record(decoded)
    body = record["payload"]
    conn.execute(
        "INSERT INTO job_logs (event_id, execution_id, job, attempt, stream, seq, line, occurred_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (record["event_id"], record["execution_id"], body["job"], body["attempt"], body["stream"], body["seq"],
         body["line"], ts(record["occurred_at"])),
    )


def write_worker(conn: psycopg.Connection, decoded: dict[str, Any]) -> None:
    record = plain_record(decoded)
    body = record["payload"]
    conn.execute(
        "INSERT INTO workers (worker_id, pool, slots, running, last_heartbeat, cpu, cpu_reserved, memory_mb, "
        "memory_reserved_mb, load_1m) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (worker_id) DO UPDATE SET pool = EXCLUDED.pool, slots = EXCLUDED.slots, "
        "running = EXCLUDED.running, last_heartbeat = EXCLUDED.last_heartbeat, cpu = EXCLUDED.cpu, "
        "cpu_reserved = EXCLUDED.cpu_reserved, memory_mb = EXCLUDED.memory_mb, "
        "memory_reserved_mb = EXCLUDED.memory_reserved_mb, load_1m = EXCLUDED.load_1m "
        "WHERE workers.last_heartbeat < EXCLUDED.last_heartbeat",
        (body["worker_id"], body["pool"], body["slots"], Jsonb(list(body["running"])), ts(record["occurred_at"]),
         body.get("cpu"), body.get("cpu_reserved"), body.get("memory_mb"), body.get("memory_reserved_mb"),
         body.get("load_1m")),
    )
