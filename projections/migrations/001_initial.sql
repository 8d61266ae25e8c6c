-- Query views of the event log. The projector writes them; the API reads them.
CREATE TABLE projector_offsets (
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE flows (
    name           text        NOT NULL,
    version        text        NOT NULL,
    source         text        NOT NULL,
    jobs           integer     NOT NULL,
    registered_by  text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX flows_by_time ON flows (name, registered_at DESC);

CREATE TABLE executions (
    execution_id         text PRIMARY KEY,
    flow_name            text        NOT NULL,
    version              text        NOT NULL,
    status               text        NOT NULL,
    params               jsonb       NOT NULL,
    submitter            text        NOT NULL,
    idempotency_key      text,
    schedule_id          text,
    logical_time         timestamptz,
    submitted_at         timestamptz NOT NULL,
    started_at           timestamptz,
    ended_at             timestamptz,
    errors               jsonb       NOT NULL DEFAULT '[]',
    cancel_requested_by  text,
    position             bigint      NOT NULL,  -- offset of the last event applied (one partition per execution)
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_by_schedule ON executions (schedule_id, submitted_at DESC) WHERE schedule_id IS NOT NULL;
CREATE INDEX executions_by_status ON executions (status, submitted_at DESC);
CREATE INDEX executions_by_flow ON executions (flow_name, submitted_at DESC);
CREATE INDEX executions_by_time ON executions (submitted_at DESC);

CREATE TABLE jobs (
    execution_id  text    NOT NULL,
    job           text    NOT NULL,
    status        text    NOT NULL,
    attempt       integer NOT NULL,
    pool          text    NOT NULL,
    worker_id     text,
    started_at    timestamptz,
    ended_at      timestamptz,
    exit_code     integer,
    error         text,
    reason        text,
    outputs       jsonb   NOT NULL DEFAULT '{}',
    position      bigint  NOT NULL,
    PRIMARY KEY (execution_id, job)
);

CREATE TABLE job_runs (
    execution_id  text    NOT NULL,
    job           text    NOT NULL,
    attempt       integer NOT NULL,
    status        text    NOT NULL,
    pool          text    NOT NULL,
    worker_id     text,
    started_at    timestamptz,
    ended_at      timestamptz,
    exit_code     integer,
    error         text,
    outputs       jsonb   NOT NULL DEFAULT '{}',
    duration_ms   bigint GENERATED ALWAYS AS ((extract(epoch FROM ended_at - started_at) * 1000)::bigint) STORED,
    position      bigint  NOT NULL,
    PRIMARY KEY (execution_id, job, attempt)
);
CREATE INDEX job_runs_by_worker ON job_runs (worker_id, started_at DESC);

CREATE TABLE events (
    event_id        text PRIMARY KEY,
    execution_id    text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    type            text        NOT NULL,
    producer        text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    causation_id    text,
    correlation_id  text,
    payload         jsonb       NOT NULL
);
CREATE INDEX events_by_execution ON events (execution_id, partition, "offset");
CREATE INDEX events_by_time ON events (execution_id, occurred_at);

CREATE TABLE job_logs (
    event_id      text PRIMARY KEY,
    execution_id  text        NOT NULL,
    job           text        NOT NULL,
    attempt       integer     NOT NULL,
    stream        text        NOT NULL,
    seq           bigint      NOT NULL,
    line          text        NOT NULL,
    occurred_at   timestamptz NOT NULL
);
CREATE INDEX job_logs_by_attempt ON job_logs (execution_id, job, attempt, seq);

CREATE TABLE workers (
    worker_id       text PRIMARY KEY,
    pool            text        NOT NULL,
    slots           integer     NOT NULL,
    running         jsonb       NOT NULL,
    last_heartbeat  timestamptz NOT NULL
);

CREATE TABLE deadletters (
    topic             text    NOT NULL,
    partition         integer NOT NULL,
    "offset"          bigint  NOT NULL,
    reason            text    NOT NULL,
    source_topic      text,
    source_partition  integer,
    source_offset     bigint,
    key               bytea,
    value             bytea,
    PRIMARY KEY (topic, partition, "offset")
);
