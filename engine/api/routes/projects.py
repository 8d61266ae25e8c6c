"""Project routes: upload a project archive (a zip, as Azkaban's upload takes it), list projects and their uploads,
and serve an archive to the workers by its hash. The checks live in engine/projects (no FastAPI there)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from engine.api.errors import ApiError
from engine.api.schedules import sync_trigger
from engine.api.wiring import Db, Produce, WaitProjected
from engine.clock import now_ms
from engine.codec import codec
from engine.codec.records import envelope
from engine.config import Settings
from engine.kafka import fits_in_a_record
from engine.projects import store
from engine.projects.archive import MAX_ARCHIVE_BYTES
from engine.projects.upload import ProjectInvalid, ProjectUpload, prepare
from projections import queries

SHA256 = re.compile(r"[0-9a-f]{64}")


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it passes ``limit`` (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the archive is {int(declared):,} bytes; at most {limit:,} are accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the archive is more than {limit:,} bytes; at most {limit:,} are accepted")
        chunks.append(chunk)
    return b"".join(chunks)


def upload_record(upload: ProjectUpload, uploaded_by: str) -> tuple[str, dict[str, Any]]:
    event_id = str(uuid.uuid4())
    return event_id, envelope(
        {"event_id": event_id, "flow_name": upload.project, "occurred_at": now_ms(), "producer": "api"},
        "flow_name", ("kafkaban.definitions.ProjectUploaded", {
            "archive_sha256": upload.archive.sha256, "archive_size": upload.archive.size,
            "flows": upload.flows, "sources": upload.sources, "flow_version": upload.flow_version,
            "uploaded_by": uploaded_by}))


def add_project_routes(app: FastAPI, settings: Settings, db: Db, produce: Produce,
                       wait_projected: WaitProjected) -> None:
    database_url = settings.require_database()

    @app.post("/api/v1/projects/{name}", status_code=201)
    async def upload_project(name: str, request: Request, uploaded_by: str = "api") -> dict[str, Any]:
        """Upload a project archive (a zip): every flow in it is registered under the project, Flow 1.0 `.job`
        projects converted. The archive is kept by its sha256; executions of the project's flows run in it."""
        data = await read_capped(request, MAX_ARCHIVE_BYTES)
        try:
            upload = await asyncio.to_thread(prepare, name, data)
        except ProjectInvalid as exc:
            raise ApiError(exc.status, exc.message, exc.problems) from exc
        _event_id, record = upload_record(upload, uploaded_by)
        value = codec("definitions", settings.schema_registry_url).encode(record)
        if not fits_in_a_record(value):
            raise ApiError(413, f"the project's flow definitions encode to {len(value):,} bytes, more than one "
                                f"Kafka record holds")
        await asyncio.to_thread(store.put, database_url, settings.database_schema, upload.archive.sha256, data)
        partition, offset = await asyncio.to_thread(produce, settings.definitions_topic, name, value)
        triggers = [found for flow, source in sorted(upload.flows.items())
                    if (found := await sync_trigger(settings, db, produce, f"{name}/{flow}", source, uploaded_by))]
        projected = await wait_projected(settings.definitions_topic, partition, offset)
        return {"project": name, "archive": upload.archive.sha256, "size": upload.archive.size,
                "flow_version": upload.flow_version, "flows": sorted(upload.flows), "partition": partition,
                "offset": offset, "projected": projected, "triggers": triggers}

    @app.get("/api/v1/projects")
    def list_projects() -> dict[str, Any]:
        with db() as conn:
            return {"projects": queries.list_projects(conn)}

    @app.get("/api/v1/projects/{name}")
    def show_project(name: str) -> dict[str, Any]:
        """A project's uploads, newest first, with their flows; `flows` are the latest upload's."""
        with db() as conn:
            uploads = queries.project_uploads(conn, name)
        if not uploads:
            raise ApiError(404, f"project {name!r} not found")
        return {"project": name, "flows": uploads[0]["flows"], "latest": uploads[0]["archive_sha256"],
                "uploads": uploads}

    @app.get("/api/v1/archives/{digest}", response_class=Response)
    def archive(digest: str) -> Response:
        """A project archive by its sha256 (what workers unpack for a job; they check the hash)."""
        if not SHA256.fullmatch(digest):
            raise ApiError(400, "an archive is named by its sha256: 64 lower-case hex digits")
        data = store.get(database_url, settings.database_schema, digest)
        if data is None:
            raise ApiError(404, f"archive {digest} not found")
        return Response(data, media_type="application/zip")
