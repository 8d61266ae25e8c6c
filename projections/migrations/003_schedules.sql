-- Schedules (schedules v2): one row per schedule, folded with the engine's own schedule evolve; every record of
-- the schedules topic (to refold a schedule and to audit it); and one row per decided tick or range of ticks.
CREATE TABLE schedules (
    schedule_id        text        PRIMARY KEY,
    flow               text        NOT NULL,
    cron               text        NOT NULL,
    timezone           text        NOT NULL,
    params             jsonb       NOT NULL,
    version            text,
    start_at           timestamptz,
    end_at             timestamptz,
    overlap            text        NOT NULL,
    catchup            text        NOT NULL,
    catchup_window_ms  bigint      NOT NULL,
    jitter_ms          bigint      NOT NULL,
    dependencies       jsonb       NOT NULL,  -- event trigger: [{name, type, params}]
    max_wait_ms        bigint,
    origin             text        NOT NULL,  -- api, or trigger (made from a flow's trigger block)
    waiting            jsonb       NOT NULL,  -- ticks waiting for their dependencies, with what met them so far
    status             text        NOT NULL,  -- ACTIVE, PAUSED, DELETED
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    decided_through    timestamptz NOT NULL,  -- every tick up to here is decided
    next_fire_at       timestamptz,           -- null: no tick to come (paused, deleted, past its end)
    fired              bigint      NOT NULL,
    skipped            bigint      NOT NULL,
    running            jsonb       NOT NULL,  -- executions started and not known to have ended
    buffered           jsonb       NOT NULL,  -- ticks waiting for them
    last_execution_id  text,
    last_logical_time  timestamptz,
    last_status        text,
    position           bigint      NOT NULL
);
CREATE INDEX schedules_by_flow ON schedules (flow);

CREATE TABLE schedule_events (
    event_id       text        PRIMARY KEY,
    schedule_id    text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    type           text        NOT NULL,
    producer       text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    causation_id   text,
    record         jsonb       NOT NULL
);
CREATE INDEX schedule_events_by_schedule ON schedule_events (schedule_id, partition, "offset");

CREATE TABLE schedule_fires (
    schedule_id    text        NOT NULL,
    logical_time   timestamptz NOT NULL,
    through        timestamptz NOT NULL,
    outcome        text        NOT NULL,  -- FIRED, SKIPPED, BUFFERED
    execution_id   text,
    cause          text,                  -- FIRED: schedule, catchup, buffered, manual
    reason         text,                  -- SKIPPED: why
    decided_at     timestamptz NOT NULL,  -- when the engine decided (its lag is decided_at - logical_time)
    event_id       text        NOT NULL UNIQUE,
    PRIMARY KEY (schedule_id, logical_time, outcome)
);
CREATE INDEX schedule_fires_by_time ON schedule_fires (schedule_id, logical_time DESC);

-- Backfills: one row per requested range, with its progress.
CREATE TABLE schedule_backfills (
    schedule_id     text        NOT NULL,
    backfill_id     text        NOT NULL,
    range_start     timestamptz NOT NULL,
    range_end       timestamptz NOT NULL,
    overlap         text        NOT NULL,
    max_per_minute  integer     NOT NULL,
    requested_by    text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    status          text        NOT NULL,  -- RUNNING, ENDED
    decided_through timestamptz,           -- its ticks up to here are decided
    ticks           integer     NOT NULL,
    reason          text,                  -- ENDED: done, or why it stopped
    ended_at        timestamptz,
    PRIMARY KEY (schedule_id, backfill_id)
);
