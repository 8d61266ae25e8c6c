"""Folds the access topic into the users, tokens, group and project-permission views, and keeps every record
(hashes left out) as the access history. Runs inside the projector's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from engine.access.records import shown
from engine.codec.records import plain_record
from projections.writer import ts

Applier = Callable[[psycopg.Connection, dict[str, Any], Any], None]


def _user_added(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    # a name deleted and added again is a new user: its old grants were removed with it
    conn.execute(
        "INSERT INTO users (name, password_hash, roles, groups, created_by, created_at, password_changed_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
        " roles = EXCLUDED.roles, groups = EXCLUDED.groups, created_by = EXCLUDED.created_by, "
        "created_at = EXCLUDED.created_at, password_changed_at = EXCLUDED.password_changed_at, deleted_at = NULL "
        "WHERE users.deleted_at IS NOT NULL",
        (body["name"], body["password_hash"], list(body["roles"]), list(body["groups"]), body["by"], at, at))


def _password_changed(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("UPDATE users SET password_hash = %s, password_changed_at = %s WHERE name = %s",
                 (body["password_hash"], at, body["name"]))


def _roles_set(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("UPDATE users SET roles = %s, groups = %s WHERE name = %s",
                 (list(body["roles"]), list(body["groups"]), body["name"]))


def _user_deleted(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("UPDATE users SET deleted_at = %s WHERE name = %s AND deleted_at IS NULL", (at, body["name"]))
    conn.execute("UPDATE api_tokens SET revoked_at = %s, revoked_by = %s WHERE user_name = %s AND revoked_at IS NULL",
                 (at, body["by"], body["name"]))
    conn.execute("DELETE FROM project_permissions WHERE kind = 'user' AND name = %s", (body["name"],))


def _group_roles(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("INSERT INTO group_roles (name, roles, updated_by, updated_at) VALUES (%s, %s, %s, %s) "
                 "ON CONFLICT (name) DO UPDATE SET roles = EXCLUDED.roles, updated_by = EXCLUDED.updated_by, "
                 "updated_at = EXCLUDED.updated_at", (body["name"], list(body["roles"]), body["by"], at))


def _token_created(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("INSERT INTO api_tokens (token_id, user_name, secret_sha256, description, created_by, created_at, "
                 "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 (body["token_id"], body["user"], body["secret_sha256"], body["description"], body["by"], at,
                  ts(body["expires_at"])))


def _token_revoked(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    conn.execute("UPDATE api_tokens SET revoked_at = %s, revoked_by = %s WHERE token_id = %s AND revoked_at IS NULL",
                 (at, body["by"], body["token_id"]))


def _permission_set(conn: psycopg.Connection, body: dict[str, Any], at: Any) -> None:
    key = (body["project"], body["kind"], body["name"])
    if not body["permissions"]:
        conn.execute("DELETE FROM project_permissions WHERE project = %s AND kind = %s AND name = %s", key)
        return
    conn.execute("INSERT INTO project_permissions (project, kind, name, permissions, granted_by, granted_at) "
                 "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (project, kind, name) DO UPDATE SET "
                 "permissions = EXCLUDED.permissions, granted_by = EXCLUDED.granted_by, "
                 "granted_at = EXCLUDED.granted_at", (*key, list(body["permissions"]), body["by"], at))


APPLIERS: dict[str, Applier] = {
    "UserAdded": _user_added, "UserPasswordChanged": _password_changed, "UserRolesSet": _roles_set,
    "UserDeleted": _user_deleted, "GroupRolesSet": _group_roles, "TokenCreated": _token_created,
    "TokenRevoked": _token_revoked, "ProjectPermissionSet": _permission_set,
}


def _plain_times(payload: dict[str, Any]) -> dict[str, Any]:
    # fastavro gives timestamp-millis fields as datetimes; the appliers and the stored payload take milliseconds
    return {key: round(value.timestamp() * 1000) if isinstance(value, dt.datetime) else value
            for key, value in payload.items()}


def write_access(conn: psycopg.Connection, decoded: dict[str, Any], topic: str, partition: int, offset: int) -> None:
    record = plain_record(decoded)
    record["payload"] = _plain_times(record["payload"])
    stored = conn.execute(
        "INSERT INTO access_events (topic, partition, \"offset\", event_id, type, subject, by_principal, occurred_at,"
        " payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING event_id",
        (topic, partition, offset, record["event_id"], record["payload_type"], record["subject"],
         record["payload"]["by"], ts(record["occurred_at"]), Jsonb(shown(record["payload"])))).fetchone()
    if stored is not None:  # a record read again (same event id) is applied once
        APPLIERS[record["payload_type"]](conn, record["payload"], ts(record["occurred_at"]))
