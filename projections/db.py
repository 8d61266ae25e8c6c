"""Connections and migrations. The views live in one PostgreSQL schema (default ``kafkaban``); a rebuild fills a
fresh schema and swaps it in. Migrations are the numbered .sql files beside this module, applied once each, in
order, under an advisory lock so several processes starting together do not race."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg
from psycopg import IsolationLevel

from projections.nul import nul_safe

MIGRATION_LOCK = 7_461_001
CONNECT_TIMEOUT_S = 5
DEFAULT_SCHEMA = "kafkaban"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema name {schema!r} must be lower-case letters, digits and _")
    return schema


def connect(url: str, schema: str = DEFAULT_SCHEMA, autocommit: bool = False) -> psycopg.Connection:
    # no server-side prepared statements: a rebuild swaps the schema under long-lived connections
    # a bounded connect: a PostgreSQL that hangs (frozen, cut off) answers as an error, which callers retry
    return nul_safe(psycopg.connect(url, autocommit=autocommit, options=f"-c search_path={check_schema(schema)}",
                                    prepare_threshold=None, connect_timeout=CONNECT_TIMEOUT_S))


@contextmanager
def one_snapshot(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Several SELECTs that must agree: on an autocommit connection each statement would see its own snapshot,
    and a projector commit between two of them shows a job running under an execution still SUBMITTED."""
    if not conn.autocommit:  # the caller's transaction is already the unit
        yield conn
        return
    previous = conn.isolation_level
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            yield conn
    finally:
        conn.isolation_level = previous


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("projections.migrations").iterdir():
        if entry.name.endswith(".sql") and entry.name[:3].isdigit():
            found.append((int(entry.name[:3]), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(url: str, schema: str = DEFAULT_SCHEMA) -> list[str]:
    """Create ``schema`` if needed and apply the migrations it lacks; returns their names."""
    applied: list[str] = []
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {check_schema(schema)}")
            conn.execute(f"SET search_path TO {schema}")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                         "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            conn.commit()
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations():
                if version in done:
                    continue
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                conn.commit()
                applied.append(name)
        finally:
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
            conn.commit()
    return applied
