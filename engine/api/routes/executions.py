"""Execution routes: submit, list, show (now or as of an offset or time), watch, its DAG, cancel, and a job's logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from engine.access.permissions import Principal
from engine.api.deps import Caller, Ctx, ExecutionsService
from engine.api.waiting import TooManyFollowers
from engine.domain.state import EXECUTION_TERMINAL, JOB_FINAL
from engine.service import graphs
from engine.service.context import READ_YOUR_WRITES_TIMEOUT_S, Context
from engine.service.errors import ServiceError
from engine.service.executions import Executions, Submission
from projections import queries

RETRY_AFTER_S = 5
MAX_FOLLOWERS_PER_CLIENT = 8  # open log streams per client address; the next one is a 429
FOLLOW_POLL_S = 0.25
JOB_ENDED = frozenset(status.value for status in JOB_FINAL)

router = APIRouter(prefix="/api/v1/executions", tags=["executions"])


class NulInName(ValueError):
    """Answered 400, like a NUL in a path or query: not a shape the request could be corrected to."""


def refuse_nul(value: str | None) -> str | None:
    """Names and ids: a NUL in one is a mistake or an attack, never meaningful."""
    if value is not None and "\x00" in value:
        raise NulInName("a NUL character (\\0) is not allowed in a name or id")
    return value


class SubmitRequest(BaseModel):
    flow: str | None = Field(None, description="Name of a registered flow, or PROJECT/FLOW", max_length=511)
    version: str | None = Field(None, description="Version hash of the flow (default: the latest)", max_length=255)
    definition: str | None = Field(None, description="An inline flow definition (YAML): needs the RUN_INLINE role")
    params: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, max_length=255)
    submitter: str | None = Field(None, description="Ignored: the submitter is the authenticated principal")

    @field_validator("flow", "version", "idempotency_key", "submitter")
    @classmethod
    def no_nul_in_names(cls, value: str | None) -> str | None:
        return refuse_nul(value)

    @field_validator("params")
    @classmethod
    def no_nul_in_param_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            refuse_nul(name)
        return value  # values may hold anything the log can carry; the views show NUL as U+2400


class CancelRequest(BaseModel):
    reason: str | None = Field(None, max_length=2000)
    requested_by: str | None = Field(None, description="Ignored: the canceller is the authenticated principal")


@router.post("", status_code=202, responses={200: {"description": "An idempotency key seen before: the execution "
                                                                  "it started, with `duplicate: true`"}})
async def submit(principal: Caller, service: ExecutionsService, request: SubmitRequest) -> Any:
    """Run a flow: EXECUTE on its project (registered flows: the default project); an inline definition needs
    the RUN_INLINE role. The submitter recorded is the caller."""
    status, answer = await service.submit(principal, Submission(
        request.flow, request.version, request.definition, request.params, request.idempotency_key))
    return JSONResponse(answer, status_code=status)


async def read_after(ctx: Context, topic: str, partition: int | None, min_offset: int | None) -> None:
    """Read-your-writes: wait (bounded) until the projector has passed an offset a write returned."""
    if (partition is not None and partition < 0) or (min_offset is not None and min_offset < 0):
        raise ServiceError(400, "partition and min_offset cannot be negative")
    if min_offset is None:
        return
    if partition is None:
        raise ServiceError(400, "min_offset needs the partition it was written to")
    if not await ctx.wait_projected(topic, partition, min_offset):
        raise ServiceError(503, f"the projection has not reached offset {min_offset} of partition {partition} "
                                f"within {READ_YOUR_WRITES_TIMEOUT_S:g} s; try again")


@router.get("")
async def list_executions(principal: Caller, ctx: Ctx, service: ExecutionsService,
                          status: str | None = Query(None, max_length=20),
                          flow: str | None = Query(None, max_length=511),
                          since: dt.datetime | None = None, until: dt.datetime | None = None,
                          schedule: str | None = Query(None, max_length=511),
                          submitter: str | None = Query(None, max_length=255),
                          project: str | None = Query(None, max_length=255),
                          cursor: str | None = Query(None, max_length=300), limit: int = Query(50, ge=1, le=1000),
                          partition: int | None = None,
                          min_offset: int | None = None) -> dict[str, Any]:
    """Executions the caller may read, newest first, filtered; `next_cursor` fetches the next page."""
    await read_after(ctx, ctx.settings.executions_topic, partition, min_offset)
    return await asyncio.to_thread(service.list, principal, status=status, flow=flow, since=since, until=until,
                                   schedule=schedule, cursor=cursor, limit=limit, submitter=submitter,
                                   project=project)


@router.get("/{execution_id}")
async def get_execution(principal: Caller, ctx: Ctx, service: ExecutionsService, execution_id: str,
                        as_of: str | None = Query(None, max_length=64), partition: int | None = None,
                        min_offset: int | None = None) -> dict[str, Any]:
    """The execution with its jobs and attempts; with `as_of` (an offset or an ISO-8601 time), the state it
    had then, folded from the stored events with the engine's own evolve."""
    await read_after(ctx, ctx.settings.executions_topic, partition, min_offset)
    if as_of is not None:
        return await asyncio.to_thread(service.as_of, principal, execution_id, as_of)
    return await asyncio.to_thread(service.readable, principal, execution_id)


@router.get("/{execution_id}/graph")
async def execution_graph(principal: Caller, service: ExecutionsService, execution_id: str) -> dict[str, Any]:
    """The DAG the execution runs (its submission's definition snapshot), laid out in layers."""
    return await asyncio.to_thread(graphs.of_execution, service, principal, execution_id)


@router.get("/{execution_id}/watch", response_model=None)
async def watch(principal: Caller, ctx: Ctx, service: ExecutionsService, request: Request,
                execution_id: str) -> StreamingResponse:
    """The execution as Server-Sent Events: a `state` event (the body of GET /executions/{id}) now and after
    every change the views apply, then `end` once it has ended. Counts against the per-client stream limit."""
    first = await asyncio.to_thread(service.readable, principal, execution_id)
    return await _stream(request, _watch(ctx, service, principal, first))


async def _watch(ctx: Context, service: Executions, principal: Principal,
                 state: dict[str, Any]) -> AsyncGenerator[str, None]:
    execution_id = state["execution_id"]
    while True:
        yield f"id: {state['position']}\nevent: state\ndata: {json.dumps(state)}\n\n"
        if state["status"] in EXECUTION_TERMINAL:
            yield f"event: end\ndata: {json.dumps({'status': state['status']})}\n\n"
            return
        position = state["position"]
        while position == state["position"]:  # one cheap read a poll; the whole view only once it moved
            await asyncio.sleep(FOLLOW_POLL_S)
            position = await asyncio.to_thread(_position, ctx, execution_id)
        state = await asyncio.to_thread(service.readable, principal, execution_id)


def _position(ctx: Context, execution_id: str) -> int | None:
    with ctx.db() as conn:
        return queries.execution_position(conn, execution_id)


async def _stream(request: Request, stream: AsyncGenerator[str, None]) -> StreamingResponse:
    """An event stream, if the client has fewer than MAX_FOLLOWERS_PER_CLIENT open (else 429)."""
    client = request.client.host if request.client else "unknown"
    try:
        request.app.state.followers.take(client, stream)
    except TooManyFollowers:
        await stream.aclose()
        raise ServiceError(429, f"{client} already follows {MAX_FOLLOWERS_PER_CLIENT} streams; close one first",
                           headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    return StreamingResponse(stream, media_type="text/event-stream")


@router.post("/{execution_id}/cancel", status_code=202)
async def cancel(principal: Caller, service: ExecutionsService, execution_id: str,
                 request: CancelRequest | None = None) -> dict[str, Any]:
    """Cancel a running execution: EXECUTE on its project. The canceller recorded is the caller."""
    return await service.cancel(principal, execution_id, request.reason if request else None)


@router.get("/{execution_id}/jobs/{job:path}/logs", response_model=None)
async def job_logs(principal: Caller, ctx: Ctx, service: ExecutionsService, request: Request, execution_id: str,
                   job: str, attempt: int | None = Query(None, ge=1), follow: bool = False) -> Any:
    """Output lines of one attempt (default: the current one). `follow=true` streams them as Server-Sent
    Events until the attempt has ended; at most MAX_FOLLOWERS_PER_CLIENT streams per client (then 429)."""
    await asyncio.to_thread(service.readable, principal, execution_id)
    run = await asyncio.to_thread(_job_run, ctx, execution_id, job)
    if run is None:
        raise ServiceError(404, f"job {job[:100]!r} of execution {execution_id} not found")
    number = attempt or max(run["attempt"], 1)
    if not follow:
        lines = await asyncio.to_thread(_logs_after, ctx, execution_id, job, number, None)
        return {"execution_id": execution_id, "job": job, "attempt": number, "lines": lines}
    return await _stream(request, _follow_logs(ctx, execution_id, job, number))


def _job_run(ctx: Context, execution_id: str, job: str) -> dict[str, Any] | None:
    with ctx.db() as conn:
        return queries.job_run(conn, execution_id, job)


def _logs_after(ctx: Context, execution_id: str, job: str, attempt: int, seq: int | None) -> list[dict[str, Any]]:
    with ctx.db() as conn:
        if seq is None:
            return queries.job_logs(conn, execution_id, job, attempt)
        return queries.job_logs(conn, execution_id, job, attempt, after_seq=seq)


async def _follow_logs(ctx: Context, execution_id: str, job: str, attempt: int) -> AsyncGenerator[str, None]:
    # a coroutine between polls, not a thread: each poll borrows a thread only for its two short queries
    seq = -1
    yield ": following\n\n"
    while True:
        lines = await asyncio.to_thread(_logs_after, ctx, execution_id, job, attempt, seq)
        run = await asyncio.to_thread(_job_run, ctx, execution_id, job)
        for line in lines:
            seq = line["seq"]
            yield f"id: {seq}\nevent: line\ndata: {json.dumps(line)}\n\n"
        ended = run is None or run["attempt"] > attempt or run["status"] in JOB_ENDED
        if ended and not lines:
            yield f"event: end\ndata: {json.dumps({'status': run['status'] if run else None})}\n\n"
            return
        if not lines:
            await asyncio.sleep(FOLLOW_POLL_S)
