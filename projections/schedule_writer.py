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


SCHEDULE_COLUMNS = ("schedule_id", "flow", "cron", "timezone", "params", "version", "start_at", "end_at", "overlap",
                    "catchup", "catchup_window_ms", "jitter_ms", "dependencies", "max_wait_ms", "origin", "waiting",
                    "status", "created_by", "created_at", "updated_at", "decided_through", "next_fire_at", "fired",
                    "skipped", "running", "buffered", "last_execution_id", "last_logical_time", "last_status",
                    "position")
UPSERT_SCHEDULE = (
    f"INSERT INTO schedules ({', '.join(SCHEDULE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(SCHEDULE_COLUMNS))}) "
    "ON CONFLICT (schedule_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SCHEDULE_COLUMNS
                if c not in ("schedule_id", "created_by", "created_at")))


def _write_schedule(conn: psycopg.Connection, s: ScheduleState, position: int) -> None:
    spec = s.spec
    due = next_due(s)
    last = s.last_fired
    row = {
        "schedule_id": s.schedule_id, "flow": spec.flow, "cron": spec.cadence, "timezone": spec.timezone,
        "params": Jsonb(dict(spec.params)), "version": spec.version, "start_at": ts(spec.start_at),
        "end_at": ts(spec.end_at), "overlap": spec.overlap, "catchup": spec.catchup,
        "catchup_window_ms": spec.catchup_window_ms, "jitter_ms": spec.jitter_ms,
        "dependencies": Jsonb([{"name": d.name, "type": d.type, "params": dict(d.params)}
                               for d in spec.dependencies]),
        "max_wait_ms": spec.max_wait_ms, "origin": spec.origin,
        "waiting": Jsonb([{"logical_time": w.logical_time, "until": w.until, "expired": w.expired,
                           "matched": [vars(m) for m in w.matched]} for w in s.waiting]),
        "status": "DELETED" if s.deleted else "PAUSED" if s.paused else "ACTIVE",
        "created_by": s.created_by, "created_at": ts(s.created_at), "updated_at": ts(s.updated_at),
        "decided_through": ts(s.cursor), "next_fire_at": ts(due[1]) if due else None, "fired": s.fired,
        "skipped": s.skipped,
        "running": Jsonb([{"execution_id": r.execution_id, "logical_time": r.logical_time} for r in s.running]),
        "buffered": Jsonb(list(s.buffered)), "last_execution_id": last.execution_id if last else None,
        "last_logical_time": ts(last.logical_time) if last else None, "last_status": s.last_status,
        "position": position,
    }
    conn.execute(UPSERT_SCHEDULE, [row[c] for c in SCHEDULE_COLUMNS])
