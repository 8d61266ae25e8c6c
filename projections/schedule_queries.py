"""Reads of the schedule views, shaped for the API. Only PostgreSQL; never Kafka."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections.queries import _clean
from projections.schedule_writer import SCHEDULE_COLUMNS

COLUMNS = ", ".join(c for c in SCHEDULE_COLUMNS if c != "position")


def list_schedules(conn: psycopg.Connection, flow: str | None = None, deleted: bool = False) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {COLUMNS} FROM schedules WHERE (%s::text IS NULL OR flow = %s) AND (%s OR status <> 'DELETED') "
            "ORDER BY schedule_id", (flow, flow, deleted)).fetchall()
    return [_clean(r) for r in rows]


def get_schedule(conn: psycopg.Connection, schedule_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {COLUMNS} FROM schedules WHERE schedule_id = %s", (schedule_id,)).fetchone()
    return _clean(row) if row else None


def schedule_fires(conn: psycopg.Connection, schedule_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest decided ticks, newest first, with the status of the execution each started."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT f.logical_time, f.through, f.outcome, f.execution_id, f.cause, f.reason, f.decided_at, "
            "e.status AS execution_status FROM schedule_fires f LEFT JOIN executions e USING (execution_id) "
            "WHERE f.schedule_id = %s ORDER BY f.logical_time DESC, f.outcome LIMIT %s",
            (schedule_id, limit)).fetchall()
    return [_clean(r) for r in rows]


def schedule_metrics(conn: psycopg.Connection) -> dict[str, Any]:
    """Counts of schedules by status, of decided ticks by outcome, and the fire lag (decided minus logical time)
    of the ticks fired on time in the last hour."""
    by_status = dict(conn.execute("SELECT status, count(*) FROM schedules GROUP BY status").fetchall())
    by_outcome = dict(conn.execute("SELECT outcome, count(*) FROM schedule_fires GROUP BY outcome").fetchall())
    missed = conn.execute("SELECT count(*) FROM schedule_fires WHERE outcome = 'SKIPPED' AND reason LIKE 'missed%%'"
                          ).fetchone()
    lag = conn.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), "
        "count(*) FROM (SELECT extract(epoch FROM decided_at - logical_time) AS lag FROM schedule_fires "
        "WHERE outcome = 'FIRED' AND cause = 'schedule' AND decided_at > now() - interval '1 hour') l").fetchone()
    return {"schedules": by_status, "ticks": by_outcome, "missed": missed[0] if missed else 0,
            "fire_lag_seconds": {"p50": lag[0], "p99": lag[1], "fires": lag[2]} if lag else None}


def schedule_backfills(conn: psycopg.Connection, schedule_id: str) -> list[dict[str, Any]]:
    """A schedule's backfills, newest first, with their progress."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT backfill_id, range_start, range_end, overlap, max_per_minute, requested_by, requested_at, status, "
            "decided_through, ticks, reason, ended_at FROM schedule_backfills WHERE schedule_id = %s "
            "ORDER BY requested_at DESC", (schedule_id,)).fetchall()
    return [_clean(r) for r in rows]


def schedule_events(conn: psycopg.Connection, schedule_id: str) -> list[dict[str, Any]]:
    """Every record of a schedule, in log order: its audit trail."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT event_id, type, partition, \"offset\", producer, occurred_at, causation_id, record -> 'payload' "
            "AS payload FROM schedule_events WHERE schedule_id = %s ORDER BY partition, \"offset\"",
            (schedule_id,)).fetchall()
    return [_clean(r) for r in rows]
