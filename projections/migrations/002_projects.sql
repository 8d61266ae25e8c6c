-- Project uploads (definitions v2, ProjectUploaded): one row per version of a project, its flows as Flow 2.0
-- YAML. The archive itself is in the archive store (<schema>_archives), found by archive_sha256.
CREATE TABLE project_uploads (
    project         text        NOT NULL,
    archive_sha256  text        NOT NULL,
    archive_size    bigint      NOT NULL,
    flow_version    text        NOT NULL,
    flows           jsonb       NOT NULL,
    sources         jsonb       NOT NULL,
    uploaded_by     text        NOT NULL,
    uploaded_at     timestamptz NOT NULL,
    event_id        text        NOT NULL UNIQUE,
    PRIMARY KEY (project, archive_sha256, uploaded_at)
);
CREATE INDEX project_uploads_by_time ON project_uploads (project, uploaded_at DESC);

-- the project and archive an execution pinned at submission (executions v3)
ALTER TABLE executions ADD COLUMN project text, ADD COLUMN archive text;
