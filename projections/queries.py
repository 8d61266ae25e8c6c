"""Reads of the views, shaped for the API. Only PostgreSQL; never Kafka."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row


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


def projected_offset(conn: psycopg.Connection, topic: str, partition: int) -> int:
    row = conn.execute("SELECT next_offset FROM projector_offsets WHERE topic = %s AND partition = %s",
                       (topic, partition)).fetchone()
    return int(row[0]) if row else 0


def list_executions(conn: psycopg.Connection, status: str | None = None, flow: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
    where, args = [], []
    if status:
        where.append("status = %s")
        args.append(status.upper())
    if flow:
        where.append("flow_name = %s")
        args.append(flow)
    sql = ("SELECT execution_id, flow_name, version, status, submitter, submitted_at, started_at, ended_at "
           "FROM executions")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY submitted_at DESC, execution_id LIMIT %s"
    with conn.cursor(row_factory=dict_row) as cur:
        return [_clean(r) for r in cur.execute(sql, [*args, limit]).fetchall()]


def get_execution(conn: psycopg.Connection, execution_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
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
    return out
