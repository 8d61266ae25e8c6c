"""Reads of the access views: what authentication and authorization ask on every request, and the lists the
user and token commands show."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections.queries import _clean


def _rows(conn: psycopg.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_clean(dict(row)) for row in cur.execute(sql, args).fetchall()]


def _row(conn: psycopg.Connection, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql, args).fetchone()
    return dict(row) if row is not None else None


def live_user(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    """A user that is not deleted, with its password hash (for checks only, never for an answer)."""
    return _row(conn, "SELECT name, password_hash, roles, groups, password_changed_at FROM users "
                      "WHERE name = %s AND deleted_at IS NULL", (name,))


def token(conn: psycopg.Connection, token_id: str) -> dict[str, Any] | None:
    return _row(conn, "SELECT token_id, user_name, secret_sha256, expires_at, revoked_at FROM api_tokens "
                      "WHERE token_id = %s", (token_id,))


def roles_of_groups(conn: psycopg.Connection, groups: list[str]) -> set[str]:
    rows = conn.execute("SELECT roles FROM group_roles WHERE name = ANY(%s)", (groups,)).fetchall()
    return {role for (roles,) in rows for role in roles}


def project_grants(conn: psycopg.Connection, project: str) -> list[tuple[str, str, list[str]]]:
    """(kind, name, permissions) of what ``project`` grants."""
    return [(kind, name, list(perms)) for kind, name, perms in conn.execute(
        "SELECT kind, name, permissions FROM project_permissions WHERE project = %s", (project,)).fetchall()]


def projects_granting(conn: psycopg.Connection, user: str, groups: list[str], permission: str) -> set[str]:
    """Projects that grant ``permission`` (or ADMIN) to the user or one of the groups."""
    rows = conn.execute(
        "SELECT DISTINCT project FROM project_permissions WHERE ((kind = 'user' AND name = %s) OR "
        "(kind = 'group' AND name = ANY(%s))) AND (%s = ANY(permissions) OR 'ADMIN' = ANY(permissions))",
        (user, groups, permission)).fetchall()
    return {project for (project,) in rows}


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT name, roles, groups, created_by, created_at FROM users WHERE deleted_at IS NULL "
                       "ORDER BY name")


def list_tokens(conn: psycopg.Connection, user: str | None) -> list[dict[str, Any]]:
    where = "WHERE user_name = %s" if user is not None else ""
    return _rows(conn, "SELECT token_id, user_name AS user, description, created_by, created_at, expires_at, "
                       f"revoked_by, revoked_at FROM api_tokens {where} ORDER BY created_at, token_id",
                 (user,) if user is not None else ())


def list_groups(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT name, roles, updated_by, updated_at FROM group_roles ORDER BY name")


def project_permissions(conn: psycopg.Connection, project: str) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT kind, name, permissions, granted_by, granted_at FROM project_permissions "
                       "WHERE project = %s ORDER BY kind, name", (project,))


def access_history(conn: psycopg.Connection, subject: str | None, limit: int) -> list[dict[str, Any]]:
    where = "WHERE subject = %s" if subject is not None else ""
    return _rows(conn, "SELECT \"offset\", partition, event_id, type, subject, by_principal AS by, occurred_at, "
                       f"payload FROM access_events {where} ORDER BY occurred_at DESC, partition, \"offset\" DESC "
                       "LIMIT %s", ((subject, limit) if subject is not None else (limit,)))
