"""The archive store: project archives kept in PostgreSQL by their sha256, in a schema of their own
(``<views schema>_archives``) that a rebuild of the views never touches, since the log holds only their hash."""

from __future__ import annotations

from projections.db import check_schema, connect


def archive_schema(views_schema: str) -> str:
    return check_schema(f"{views_schema}_archives")


def put(url: str, views_schema: str, digest: str, data: bytes) -> None:
    """Keep ``data`` under ``digest``, its sha256 (once: storing it again changes nothing)."""
    schema = archive_schema(views_schema)
    with connect(url, schema) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute("CREATE TABLE IF NOT EXISTS archives (sha256 text PRIMARY KEY, size bigint NOT NULL, "
                     "content bytea NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO archives (sha256, size, content) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     (digest, len(data), data))


def get(url: str, views_schema: str, digest: str) -> bytes | None:
    schema = archive_schema(views_schema)
    with connect(url, schema) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.archives",)).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute("SELECT content FROM archives WHERE sha256 = %s", (digest,)).fetchone()
    return None if row is None else bytes(row[0])
