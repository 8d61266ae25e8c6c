"""Flow routes: register a definition, list flows (with each one's last run), show a flow's versions and its DAG."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from engine.api.deps import Caller, Ctx
from engine.service import flows, graphs

router = APIRouter(prefix="/api/v1/flows", tags=["flows"])


@router.post("", status_code=201)
async def register_flow(principal: Caller, ctx: Ctx, request: Request,
                        name: str | None = Query(None, max_length=100)) -> dict[str, Any]:
    """Register a flow (YAML body) in the default project: WRITE there, and SCHEDULE when its trigger block
    changes a schedule."""
    return await flows.register(ctx, principal, await request.body(), name)


@router.get("")
async def list_flows(principal: Caller, ctx: Ctx) -> dict[str, Any]:
    return await asyncio.to_thread(flows.list_flows, ctx, principal)


@router.get("/{name}")
async def get_flow(principal: Caller, ctx: Ctx, name: str) -> dict[str, Any]:
    """A flow with every registered version, newest first."""
    return await asyncio.to_thread(flows.versions, ctx, principal, name)


@router.get("/{name}/graph")
async def flow_graph(principal: Caller, ctx: Ctx, name: str,
                     version: str | None = Query(None, max_length=255)) -> dict[str, Any]:
    """A version's DAG laid out in layers (default: the latest): nodes with layer and row, edges with the condition
    of the job they enter, embedded flows as groups, and the flow's params (for a Run form)."""
    return await asyncio.to_thread(graphs.of_flow, ctx, principal, name, version)
