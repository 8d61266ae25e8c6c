"""Project routes: upload a project archive, list projects and their uploads, serve an archive by its hash."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.api.deps import Caller, Ctx
from engine.projects.archive import MAX_ARCHIVE_BYTES
from engine.service import graphs, projects
from engine.service.errors import ServiceError

router = APIRouter(prefix="/api/v1", tags=["projects"])


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it passes ``limit`` (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServiceError(413, f"the archive is {int(declared):,} bytes; at most {limit:,} are accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, f"the archive is more than {limit:,} bytes; at most {limit:,} are accepted")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/projects/{name}", status_code=201)
async def upload_project(principal: Caller, ctx: Ctx, name: str, request: Request) -> dict[str, Any]:
    """Upload a project archive (a zip): every flow in it is registered under the project, Flow 1.0 `.job`
    projects converted. A new project needs CREATEPROJECTS (its uploader becomes its ADMIN); an existing one
    WRITE. The archive is kept by its sha256; executions of the project's flows run in it."""
    await asyncio.to_thread(projects.may_upload, ctx, principal, name)  # refused before the body is read
    return await projects.upload(ctx, principal, name, await read_capped(request, MAX_ARCHIVE_BYTES))


@router.get("/projects")
def list_projects(principal: Caller, ctx: Ctx) -> dict[str, Any]:
    return projects.list_projects(ctx, principal)


@router.get("/projects/{name}")
def show_project(principal: Caller, ctx: Ctx, name: str) -> dict[str, Any]:
    """A project's uploads, newest first, with their flows; `flows` are the latest upload's."""
    return projects.show(ctx, principal, name)


@router.get("/projects/{name}/flows/{flow}/graph")
def project_flow_graph(principal: Caller, ctx: Ctx, name: str, flow: str,
                       archive: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    """A project flow's DAG laid out in layers, as of the latest upload or of the upload of `archive`."""
    return graphs.of_project_flow(ctx, principal, name, flow, archive)


@router.get("/archives/{digest}", response_class=Response)
def archive(principal: Caller, ctx: Ctx, digest: str) -> Response:
    """A project archive by its sha256 (what workers unpack for a job; they check the hash)."""
    return Response(projects.archive(ctx, principal, digest), media_type="application/zip")
