"""Schedule records into rows: every record, the schedule folded with the engine's own ``evolve``, and each
decided tick. Runs inside the projector's transaction; knows nothing of Kafka."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from engine.codec.records import plain_record
from engine.codec.schedule_records import schedule_event_from_record, schedule_event_to_record
from engine.domain.schedule import events as se
from engine.domain.schedule.evolve import evolve
from engine.domain.schedule.process import next_due
from engine.domain.schedule.state import ScheduleState
from projections.writer import ts


def stored_record(event: se.ScheduleEvent) -> dict[str, Any]:
    return plain_record(schedule_event_to_record(event))


def event_from_stored(record: dict[str, Any]) -> se.ScheduleEvent:
    wire = dict(record)
    wire["payload"] = (f"kafkaban.schedules.{wire.pop('payload_type')}", wire["payload"])
    return schedule_event_from_record(wire)


class ScheduleWriter:
    def __init__(self) -> None:
        self.cache: dict[str, ScheduleState | None] = {}

    def forget(self) -> None:
        self.cache.clear()

    def _state(self, conn: psycopg.Connection, schedule_id: str) -> ScheduleState | None:
        if schedule_id not in self.cache:
            state = None
            for (record,) in conn.execute("SELECT record FROM schedule_events WHERE schedule_id = %s "
                                          "ORDER BY partition, \"offset\"", (schedule_id,)):
                state = evolve(state, event_from_stored(record))
            self.cache[schedule_id] = state
        return self.cache[schedule_id]

    def write(self, conn: psycopg.Connection, event: se.ScheduleEvent, partition: int, offset: int) -> None:
        before = self._state(conn, event.schedule_id)  # folded from the stored records, before this one is stored
        inserted = conn.execute(
            "INSERT INTO schedule_events (event_id, schedule_id, partition, \"offset\", type, producer, occurred_at, "
            "causation_id, record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
            (event.event_id, event.schedule_id, partition, offset, event.type, event.producer,
             ts(event.occurred_at), event.causation_id, Jsonb(stored_record(event)))).rowcount
        if not inserted:
            return
        after = evolve(before, event)
        self.cache[event.schedule_id] = after
        if after is None or after is before:
            return
        _write_fire(conn, event)
        _write_backfill(conn, event, after)
        _write_schedule(conn, after, offset)


def _write_backfill(conn: psycopg.Connection, event: se.ScheduleEvent, s: ScheduleState) -> None:
    p = event.payload
    if isinstance(p, se.ScheduleBackfillRequested):
        conn.execute(
            "INSERT INTO schedule_backfills (schedule_id, backfill_id, range_start, range_end, overlap, "
            "max_per_minute, requested_by, requested_at, status, ticks) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "'RUNNING', 0) ON CONFLICT DO NOTHING",
            (s.schedule_id, p.backfill_id, ts(p.start), ts(p.end), p.overlap, p.max_per_minute, p.requested_by,
             ts(event.occurred_at)))
    elif isinstance(p, se.ScheduleBackfillTick):
        conn.execute("UPDATE schedule_backfills SET decided_through = %s, ticks = ticks + 1 WHERE schedule_id = %s "
                     "AND backfill_id = %s", (ts(p.logical_time), s.schedule_id, p.backfill_id))
    elif isinstance(p, se.ScheduleBackfillEnded):
        conn.execute("UPDATE schedule_backfills SET status = 'ENDED', reason = %s, ended_at = %s WHERE "
                     "schedule_id = %s AND backfill_id = %s", (p.reason, ts(event.occurred_at), s.schedule_id,
                                                               p.backfill_id))
    elif isinstance(p, se.ScheduleDeleted):
        conn.execute("UPDATE schedule_backfills SET status = 'ENDED', reason = 'the schedule was deleted', "
                     "ended_at = %s WHERE schedule_id = %s AND status = 'RUNNING'",
                     (ts(event.occurred_at), s.schedule_id))


def _write_fire(conn: psycopg.Connection, event: se.ScheduleEvent) -> None:
    p = event.payload
    if isinstance(p, se.ScheduleFired):
        row = (p.logical_time, p.logical_time, "FIRED", p.execution_id, p.cause, None)
    elif isinstance(p, se.ScheduleSkipped):
        row = (p.logical_time, p.through, "SKIPPED", None, None, p.reason)
    elif isinstance(p, se.ScheduleBuffered):
        row = (p.logical_time, p.logical_time, "BUFFERED", None, None, None)
    else:
        return
    logical, through, outcome, execution_id, cause, reason = row
    conn.execute(
        "INSERT INTO schedule_fires (schedule_id, logical_time, through, outcome, execution_id, cause, reason, "
        "decided_at, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (event.schedule_id, ts(logical), ts(through), outcome, execution_id, cause, reason, ts(event.occurred_at),
         event.event_id))


def _write_schedule(conn: psycopg.Connection, s: ScheduleState, position: int) -> None:
    spec = s.spec
    status = "DELETED" if s.deleted else "PAUSED" if s.paused else "ACTIVE"
    due = next_due(s)
    last = s.last_fired
    conn.execute(
        "INSERT INTO schedules (schedule_id, flow, cron, timezone, params, version, start_at, end_at, overlap, "
        "catchup, catchup_window_ms, jitter_ms, status, created_by, created_at, updated_at, decided_through, "
        "next_fire_at, fired, skipped, running, buffered, last_execution_id, last_logical_time, last_status, "
        "position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s) ON CONFLICT (schedule_id) DO UPDATE SET flow = EXCLUDED.flow, cron = EXCLUDED.cron, "
        "timezone = EXCLUDED.timezone, params = EXCLUDED.params, version = EXCLUDED.version, "
        "start_at = EXCLUDED.start_at, end_at = EXCLUDED.end_at, overlap = EXCLUDED.overlap, "
        "catchup = EXCLUDED.catchup, catchup_window_ms = EXCLUDED.catchup_window_ms, jitter_ms = EXCLUDED.jitter_ms, "
        "status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, decided_through = EXCLUDED.decided_through, "
        "next_fire_at = EXCLUDED.next_fire_at, fired = EXCLUDED.fired, skipped = EXCLUDED.skipped, "
        "running = EXCLUDED.running, buffered = EXCLUDED.buffered, last_execution_id = EXCLUDED.last_execution_id, "
        "last_logical_time = EXCLUDED.last_logical_time, last_status = EXCLUDED.last_status, "
        "position = EXCLUDED.position",
        (s.schedule_id, spec.flow, spec.cadence, spec.timezone, Jsonb(dict(spec.params)), spec.version,
         ts(spec.start_at), ts(spec.end_at), spec.overlap, spec.catchup, spec.catchup_window_ms, spec.jitter_ms,
         status, s.created_by, ts(s.created_at), ts(s.updated_at), ts(s.cursor), ts(due[1]) if due else None,
         s.fired, s.skipped, Jsonb([{"execution_id": r.execution_id, "logical_time": r.logical_time}
                                    for r in s.running]),
         Jsonb(list(s.buffered)), last.execution_id if last else None, ts(last.logical_time) if last else None,
         s.last_status, position))

