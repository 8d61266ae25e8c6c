"""Projects: upload an archive (a zip, as Azkaban's upload takes it), list projects and their uploads, and serve
an archive to the workers by its hash. The archive's checks live in engine/projects.

A first upload makes a project: the CREATEPROJECTS role (Azkaban with lockdown.create.projects), and its uploader
becomes the project's ADMIN, as Azkaban's createProject makes its creator. A later upload needs WRITE on it."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from engine.access.permissions import Permission, Principal
from engine.clock import now_ms
from engine.codec import codec
from engine.codec.records import envelope
from engine.kafka import fits_in_a_record
from engine.projects import store
from engine.projects.upload import ProjectInvalid, ProjectUpload, prepare
from engine.service.access import check_name
from engine.service.context import Context
from engine.service.errors import ServiceError
from engine.service.triggers import apply_trigger, plan_trigger
from projections import queries

SHA256 = re.compile(r"[0-9a-f]{64}")


def upload_record(upload: ProjectUpload, uploaded_by: str) -> tuple[str, dict[str, Any]]:
    event_id = str(uuid.uuid4())
    return event_id, envelope(
        {"event_id": event_id, "flow_name": upload.project, "occurred_at": now_ms(), "producer": "api"},
        "flow_name", ("kafkaban.definitions.ProjectUploaded", {
            "archive_sha256": upload.archive.sha256, "archive_size": upload.archive.size,
            "flows": upload.flows, "sources": upload.sources, "flow_version": upload.flow_version,
            "uploaded_by": uploaded_by}))


def _uploads(ctx: Context, name: str) -> list[dict[str, Any]]:
    with ctx.db() as conn:
        return queries.project_uploads(conn, name)


def may_upload(ctx: Context, principal: Principal, name: str) -> bool:
    """Whether ``principal`` may upload to ``name``; True also means the project is new."""
    check_name("project", name)
    if _uploads(ctx, name):
        ctx.access.require(principal, Permission.WRITE, name)
        return False
    ctx.access.require_role(principal, Permission.CREATEPROJECTS)
    return True


async def upload(ctx: Context, principal: Principal, name: str, data: bytes) -> dict[str, Any]:
    new = await asyncio.to_thread(may_upload, ctx, principal, name)
    try:
        prepared = await asyncio.to_thread(prepare, name, data)
    except ProjectInvalid as exc:
        raise ServiceError(exc.status, exc.message, exc.problems) from exc
    plans = [await plan_trigger(ctx, principal, f"{name}/{flow}", source)
             for flow, source in sorted(prepared.flows.items())]
    _event_id, record = upload_record(prepared, principal.name)
    value = codec("definitions", ctx.settings.schema_registry_url).encode(record)
    if not fits_in_a_record(value):
        raise ServiceError(413, f"the project's flow definitions encode to {len(value):,} bytes, more than one "
                                f"Kafka record holds")
    await asyncio.to_thread(store.put, ctx.settings.require_database(), ctx.settings.database_schema,
                            prepared.archive.sha256, data)
    if new:
        await ctx.access.grant_creator(principal, name)
    partition, offset = await asyncio.to_thread(ctx.produce, ctx.settings.definitions_topic, name, value)
    triggers = [found for plan in plans if (found := await apply_trigger(ctx, plan))]
    projected = await ctx.wait_projected(ctx.settings.definitions_topic, partition, offset)
    return {"project": name, "archive": prepared.archive.sha256, "size": prepared.archive.size,
            "flow_version": prepared.flow_version, "flows": sorted(prepared.flows), "partition": partition,
            "offset": offset, "projected": projected, "triggers": triggers, "uploaded_by": principal.name}


def list_projects(ctx: Context, principal: Principal) -> dict[str, Any]:
    readable = ctx.access.readable_projects(principal)
    with ctx.db() as conn:
        found, runs = queries.list_projects(conn), queries.last_runs(conn)
    return {"projects": [{**p, "last_runs": {flow: runs.get((p["project"], flow)) for flow in p["flows"]}}
                         for p in found if readable is None or p["project"] in readable]}


def show(ctx: Context, principal: Principal, name: str) -> dict[str, Any]:
    uploads = _uploads(ctx, name) if ctx.access.may(principal, Permission.READ, name) else []
    if not uploads:
        raise ServiceError(404, f"project {name[:100]!r} not found")
    return {"project": name, "flows": uploads[0]["flows"], "latest": uploads[0]["archive_sha256"],
            "uploads": uploads}


def archive(ctx: Context, principal: Principal, digest: str) -> bytes:
    """An archive by its sha256, to a principal that may read a project holding it (workers: the READ role)."""
    if not SHA256.fullmatch(digest):
        raise ServiceError(400, "an archive is named by its sha256: 64 lower-case hex digits")
    with ctx.db() as conn:
        holders = [row[0] for row in conn.execute(
            "SELECT DISTINCT project FROM project_uploads WHERE archive_sha256 = %s", (digest,)).fetchall()]
    data = None
    if any(ctx.access.may(principal, Permission.READ, project) for project in holders):
        data = store.get(ctx.settings.require_database(), ctx.settings.database_schema, digest)
    if data is None:
        raise ServiceError(404, f"archive {digest} not found")
    return data
