-- Access (access v1): the fold of the access topic. Users with their password hash (argon2id), tokens by the
-- SHA-256 of their secret, group roles and project grants; and every record, hashes left out, as the history of
-- who granted what.
CREATE TABLE users (
    name                 text        PRIMARY KEY,
    password_hash        text        NOT NULL,
    roles                text[]      NOT NULL,
    groups               text[]      NOT NULL,
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL,
    password_changed_at  timestamptz NOT NULL,  -- browser sessions opened before it no longer count
    deleted_at           timestamptz
);

CREATE TABLE api_tokens (
    token_id       text        PRIMARY KEY,
    user_name      text        NOT NULL,
    secret_sha256  text        NOT NULL,
    description    text        NOT NULL,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz,
    revoked_by     text,
    revoked_at     timestamptz
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name);

CREATE TABLE group_roles (
    name        text        PRIMARY KEY,
    roles       text[]      NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE project_permissions (
    project      text        NOT NULL,
    kind         text        NOT NULL,  -- user or group
    name         text        NOT NULL,
    permissions  text[]      NOT NULL,
    granted_by   text        NOT NULL,
    granted_at   timestamptz NOT NULL,
    PRIMARY KEY (project, kind, name)
);

CREATE TABLE access_events (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    event_id     text        NOT NULL UNIQUE,
    type         text        NOT NULL,
    subject      text        NOT NULL,
    by_principal text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb       NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
