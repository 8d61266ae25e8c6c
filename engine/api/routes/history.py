"""History and audit: an execution's events in log order, and who granted what on the access log."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query

from engine.api.deps import Admin, Caller, Ctx, ExecutionsService
from projections.access_queries import access_history

router = APIRouter(prefix="/api/v1", tags=["history"])


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "type": row["type"], "topic": row["topic"], "partition": row["partition"],
            "offset": row["offset"], "producer": row["producer"], "occurred_at": row["occurred_at"].isoformat(),
            "causation_id": row["causation_id"], "correlation_id": row["correlation_id"], "payload": row["payload"]}


@router.get("/executions/{execution_id}/events")
async def execution_events(principal: Caller, service: ExecutionsService, execution_id: str) -> dict[str, Any]:
    """The ordered event history of an execution, with each event's topic, partition and offset."""
    rows = await asyncio.to_thread(service.events, principal, execution_id)
    return {"execution_id": execution_id, "events": [event_json(row) for row in rows]}


@router.get("/access/events")
def access_events(principal: Admin, ctx: Ctx, subject: str | None = Query(None, max_length=200),
                  limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """Who granted what: the access log's records, newest first (password and token hashes left out)."""
    with ctx.db() as conn:
        return {"events": access_history(conn, subject, limit)}
