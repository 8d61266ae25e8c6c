"""Reads of the views, shaped for the API. Only PostgreSQL; never Kafka."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from engine.codec.json_events import event_from_json
from engine.domain import events as ev
from engine.domain.state import ExecutionStatus
from projections.db import one_snapshot


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _iso(value) for key, value in row.items()}


def list_flows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (name) name, version, jobs, registered_by, registered_at, "
            "(SELECT count(*) FROM flows f2 WHERE f2.name = flows.name) AS versions "
            "FROM flows ORDER BY name, registered_at DESC").fetchall()
    return [_clean(r) for r in rows]


def flow_source(conn: psycopg.Connection, name: str, version: str | None = None) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        if version:
            row = cur.execute("SELECT name, version, source FROM flows WHERE name = %s AND version = %s",
                              (name, version)).fetchone()
        else:
            row = cur.execute("SELECT name, version, source FROM flows WHERE name = %s "
                              "ORDER BY registered_at DESC LIMIT 1", (name,)).fetchone()
    return row


def projected_offsets(conn: psycopg.Connection) -> dict[tuple[str, int], int]:
    """Every (topic, partition) -> next offset the projector will write, as stored with its rows."""
    return {(topic, partition): int(offset) for topic, partition, offset in conn.execute(
        "SELECT topic, partition, next_offset FROM projector_offsets").fetchall()}


def encode_cursor(submitted_at: str, execution_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([submitted_at, execution_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """Raises ValueError for a cursor this API did not make."""
    try:
        submitted_at, execution_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return dt.datetime.fromisoformat(submitted_at), str(execution_id)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a cursor of this API: {cursor!r}") from exc


def _execution_filters(flow: str | None, since: dt.datetime | None, until: dt.datetime | None,
                       schedule: str | None, submitter: str | None, project: str | None,
                       projects: set[str] | None) -> tuple[list[str], list[Any]]:
    """WHERE clauses and their arguments of the executions list's filters (the status filter aside)."""
    where, args = [], []
    for clause, value in (("flow_name = %s", flow), ("submitted_at >= %s", since), ("submitted_at < %s", until),
                          ("schedule_id = %s", schedule), ("submitter = %s", submitter),
                          ("COALESCE(project, 'default') = %s", project),
                          ("COALESCE(project, 'default') = ANY(%s)",
                           sorted(projects) if projects is not None else None)):
        if value is not None:
            where.append(clause)
            args.append(value)
    return where, args


def list_executions(conn: psycopg.Connection, status: str | None = None, flow: str | None = None,
                    since: dt.datetime | None = None, until: dt.datetime | None = None,
                    schedule: str | None = None, cursor: str | None = None,
                    limit: int = 50, projects: set[str] | None = None,
                    submitter: str | None = None,
                    project: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; the second value is the cursor of the next page (None on the last page). ``projects``
    limits the list to those projects (None: every one; flows without a project are in ``default``). Raises
    ValueError for a status that is not one."""
    if status and status.upper() not in ExecutionStatus.__members__:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(ExecutionStatus)}")
    where, args = _execution_filters(flow, since, until, schedule, submitter, project, projects)
    if status:
        where.append("status = %s")
        args.append(status.upper())
    if cursor:
        after_time, after_id = decode_cursor(cursor)
        where.append("(submitted_at, execution_id) < (%s, %s)")
        args += [after_time, after_id]
    sql = ("SELECT execution_id, flow_name, version, status, submitter, schedule_id, logical_time, submitted_at, "
           "started_at, ended_at, project FROM executions")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY submitted_at DESC, execution_id DESC LIMIT %s"
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, [*args, limit + 1]).fetchall()
    page = [_clean(r) for r in rows[:limit]]
    next_cursor = encode_cursor(page[-1]["submitted_at"], page[-1]["execution_id"]) if len(rows) > limit else None
    return page, next_cursor


def execution_counts(conn: psycopg.Connection, flow: str | None = None, since: dt.datetime | None = None,
                     until: dt.datetime | None = None, schedule: str | None = None, submitter: str | None = None,
                     project: str | None = None, projects: set[str] | None = None) -> dict[str, int]:
    """Executions by status under the list's filters (every status, whichever one the list shows)."""
    where, args = _execution_filters(flow, since, until, schedule, submitter, project, projects)
    sql = "SELECT status, count(*) FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
    return dict(conn.execute(sql + " GROUP BY status", args).fetchall())


EVENT_COLUMNS = ('event_id, execution_id, topic, partition, "offset", type, producer, occurred_at, causation_id, '
                 "correlation_id, payload")


def execution_events(conn: psycopg.Connection, execution_id: str, max_offset: int | None = None,
                     until: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The execution's events in log order, optionally only up to an offset or a time."""
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE execution_id = %s"
    args: list[Any] = [execution_id]
    if max_offset is not None:
        sql += " AND \"offset\" <= %s"
        args.append(max_offset)
    if until is not None:
        sql += " AND occurred_at <= %s"
        args.append(until)
    sql += " ORDER BY partition, \"offset\""
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(sql, args).fetchall())


def submission_row(conn: psycopg.Connection, execution_id: str) -> dict[str, Any] | None:
    """The execution's ExecutionSubmitted as the events table stores it (its definition snapshot)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE execution_id = %s AND type = 'ExecutionSubmitted' "
            "ORDER BY partition, \"offset\" LIMIT 1", (execution_id,)).fetchone()


def last_runs(conn: psycopg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """(project, flow) -> its newest execution's id, status and times (flows without a project: ``default``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (COALESCE(project, 'default'), flow_name) COALESCE(project, 'default') AS project, "
            "flow_name, execution_id, status, submitted_at, started_at, ended_at FROM executions "
            "ORDER BY COALESCE(project, 'default'), flow_name, submitted_at DESC").fetchall()
    return {(r.pop("project"), r.pop("flow_name")): _clean(r) for r in rows}


def flow_versions(conn: psycopg.Connection, name: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT version, jobs, registered_by, registered_at, source FROM flows WHERE name = %s "
                           "ORDER BY registered_at DESC", (name,)).fetchall()
    return [_clean(r) for r in rows]


WORKER_ALIVE_S = 15.0  # a worker heard from within this long counts as alive (it heartbeats every few seconds)


def live_pools(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT pool FROM workers WHERE last_heartbeat > now() - make_interval(secs => %s)",
        (WORKER_ALIVE_S,)).fetchall()}


def list_workers(conn: psycopg.Connection, alive_within_s: float = WORKER_ALIVE_S) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT worker_id, pool, slots, running, last_heartbeat, cpu, cpu_reserved, memory_mb, "
                           "memory_reserved_mb, load_1m, "
                           "last_heartbeat > now() - make_interval(secs => %s) AS alive FROM workers "
                           "ORDER BY pool, worker_id", (alive_within_s,)).fetchall()
    return [_clean(r) for r in rows]


def pools(conn: psycopg.Connection, sample: int = 20, alive_within_s: float = WORKER_ALIVE_S) -> list[dict[str, Any]]:
    """Each pool a worker serves or a job waits for: its live workers, their slots and how many they use, the jobs
    queued or dispatched for it, and the first ``sample`` of those (oldest first)."""
    with one_snapshot(conn), conn.cursor(row_factory=dict_row) as cur:
        workers = cur.execute(
            "SELECT pool, count(*) AS live_workers, sum(slots) AS slots, sum(jsonb_array_length(running)) AS used "
            "FROM workers WHERE last_heartbeat > now() - make_interval(secs => %s) GROUP BY pool",
            (alive_within_s,)).fetchall()
        waiting = cur.execute(
            "SELECT j.pool, j.execution_id, j.job, j.status FROM jobs j JOIN executions e USING (execution_id) "
            "WHERE j.status IN ('QUEUED', 'DISPATCHED') ORDER BY e.submitted_at").fetchall()
        known = [r["pool"] for r in cur.execute("SELECT DISTINCT pool FROM workers").fetchall()]
    def blank(pool: str) -> dict[str, Any]:
        return {"pool": pool, "live_workers": 0, "slots": 0, "used": 0, "waiting": 0, "waiting_jobs": []}

    out = {pool: blank(pool) for pool in known}
    for row in workers:
        out[row["pool"]].update(live_workers=int(row["live_workers"]), slots=int(row["slots"] or 0),
                                used=int(row["used"] or 0))
    for row in waiting:
        pool = out.setdefault(row["pool"], blank(row["pool"]))
        pool["waiting"] += 1
        if len(pool["waiting_jobs"]) < sample:
            pool["waiting_jobs"].append({"execution_id": row["execution_id"], "job": row["job"],
                                         "status": row["status"]})
    return sorted(out.values(), key=lambda p: p["pool"])


def job_logs(conn: psycopg.Connection, execution_id: str, job: str, attempt: int, after_seq: int = -1,
             limit: int = 10_000) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT seq, stream, line, occurred_at FROM job_logs WHERE execution_id = %s AND "
                           "job = %s AND attempt = %s AND seq > %s ORDER BY seq LIMIT %s",
                           (execution_id, job, attempt, after_seq, limit)).fetchall()
    return [_clean(r) for r in rows]


def job_run(conn: psycopg.Connection, execution_id: str, job: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT status, attempt FROM jobs WHERE execution_id = %s AND job = %s",
                           (execution_id, job)).fetchone()


def status_counts(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT status, count(*) FROM executions GROUP BY status").fetchall())


def dispatch_latencies(conn: psycopg.Connection, last: int = 1000) -> list[float]:
    """Seconds from JobQueued to JobStarted of the most recent started attempts."""
    rows = conn.execute(
        "WITH started AS (SELECT execution_id, payload->>'job' AS job, payload->>'attempt' AS attempt, occurred_at "
        "FROM events WHERE type = 'JobStarted' ORDER BY occurred_at DESC LIMIT %s) "
        "SELECT extract(epoch FROM s.occurred_at - q.occurred_at) FROM started s JOIN events q "
        "ON q.execution_id = s.execution_id AND q.type = 'JobQueued' AND q.payload->>'job' = s.job "
        "AND q.payload->>'attempt' = s.attempt", (last,)).fetchall()
    return [max(float(r[0]), 0.0) for r in rows]


def projector_positions(conn: psycopg.Connection) -> list[tuple[str, int, int]]:
    return [tuple(r) for r in conn.execute("SELECT topic, partition, next_offset FROM projector_offsets")]


def misplaced_counts(conn: psycopg.Connection) -> list[tuple[str, str, int]]:
    """(topic, producer, records) of the records found on another partition than their key's."""
    return [tuple(r) for r in conn.execute(
        "SELECT topic, producer, records FROM misplaced_records ORDER BY topic, producer")]


def execution_position(conn: psycopg.Connection, execution_id: str) -> int | None:
    """Offset of the last event the views applied to the execution: it moves whenever anything of it changed."""
    row = conn.execute("SELECT position FROM executions WHERE execution_id = %s", (execution_id,)).fetchone()
    return None if row is None else int(row[0])


def get_execution(conn: psycopg.Connection, execution_id: str) -> dict[str, Any] | None:
    with one_snapshot(conn), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM executions WHERE execution_id = %s", (execution_id,)).fetchone()
        if row is None:
            return None
        jobs = cur.execute("SELECT job, status, attempt, pool, worker_id, started_at, ended_at, exit_code, error, "
                           "reason, outputs FROM jobs WHERE execution_id = %s ORDER BY job",
                           (execution_id,)).fetchall()
        runs = cur.execute("SELECT job, attempt, status, pool, worker_id, started_at, ended_at, exit_code, error, "
                           "outputs FROM job_runs WHERE execution_id = %s ORDER BY job, attempt",
                           (execution_id,)).fetchall()
    attempts: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        attempts.setdefault(run.pop("job"), []).append(_clean(run))
    out = _clean(row)
    out.pop("updated_at", None)
    out["jobs"] = [{**_clean(job), "attempts": attempts.get(job["job"], [])} for job in jobs]
    waiting = [job for job in out["jobs"] if job["status"] in ("QUEUED", "DISPATCHED")]
    if waiting:  # a dispatch nobody can take must not look like work under way
        alive = live_pools(conn)
        for job in waiting:
            if job["pool"] not in alive:
                job["waiting"] = f"no worker in pool {job['pool']}"
    return out


def event_from_row(row: dict[str, Any]) -> ev.Event:
    """An event as the events table stores it, back as the domain value."""
    return event_from_json({"type": row["type"], "event_id": row["event_id"], "execution_id": row["execution_id"],
                            "occurred_at": round(row["occurred_at"].timestamp() * 1000), "producer": row["producer"],
                            "causation_id": row["causation_id"], "correlation_id": row["correlation_id"],
                            "payload": row["payload"]})


def list_projects(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Each project with its latest upload."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (project) project, archive_sha256, archive_size, flow_version, uploaded_by, "
            "uploaded_at, (SELECT count(*) FROM project_uploads u WHERE u.project = p.project) AS uploads, "
            "flows FROM project_uploads p ORDER BY project, uploaded_at DESC").fetchall()
    return [{**_clean({k: v for k, v in r.items() if k != "flows"}), "flows": sorted(r["flows"])} for r in rows]


def project_uploads(conn: psycopg.Connection, project: str) -> list[dict[str, Any]]:
    """A project's uploads, newest first, each with its flows' names and files."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT archive_sha256, archive_size, flow_version, sources, uploaded_by, uploaded_at "
            "FROM project_uploads WHERE project = %s ORDER BY uploaded_at DESC", (project,)).fetchall()
    return [{**_clean({k: v for k, v in r.items() if k != "sources"}),
             "flows": [{"flow": name, "file": path} for name, path in sorted(r["sources"].items())]} for r in rows]


def project_flow(conn: psycopg.Connection, project: str, flow: str,
                 archive: str | None = None) -> dict[str, Any] | None:
    """A flow of a project's latest upload (or of the upload of ``archive``): its source and the archive."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT archive_sha256, flows -> %s AS source FROM project_uploads WHERE project = %s "
            "AND (%s::text IS NULL OR archive_sha256 = %s) ORDER BY uploaded_at DESC LIMIT 1",
            (flow, project, archive, archive)).fetchone()
    if row is None or row["source"] is None:
        return None
    return {"archive": row["archive_sha256"], "source": row["source"]}
