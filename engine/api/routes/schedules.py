"""Schedule routes: create, list, show, update, pause, resume, trigger, delete, backfill, preview. Each change is
one record on the schedules topic; reads come from the schedule views. The rules live in engine/schedule_requests
(no FastAPI there) and engine/domain/schedule. A schedule belongs to its flow's project: SCHEDULE there to
change it, EXECUTE to trigger it, READ to see it. Who made a change is the caller, never a field of the body."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Query, Request

from engine.access.permissions import Permission, Principal
from engine.api.deps import Caller, Ctx
from engine.clock import now_ms
from engine.codec.schedule_records import encode_schedule_event
from engine.domain.schedule import events as se
from engine.schedule_requests import (
    ScheduleRequestError,
    backfill_from_request,
    event,
    preview,
    schedule_id_of,
    spec_from_request,
)
from engine.service.context import Context
from engine.service.errors import ServiceError
from engine.service.triggers import project_of
from projections import queries
from projections.schedule_queries import (
    get_schedule,
    list_schedules,
    schedule_backfills,
    schedule_events,
    schedule_fires,
)

MAX_BODY = 256 * 1024

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ServiceError(413, f"the request is {len(body):,} bytes; at most {MAX_BODY:,} are accepted")
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ServiceError(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ServiceError(400, "the body must be a JSON object")
    return data


async def write(ctx: Context, schedule_id: str, payload: se.Payload) -> dict[str, Any]:
    record = event(schedule_id, payload, now_ms())
    value = encode_schedule_event(record, ctx.settings.schema_registry_url)
    topic = ctx.settings.schedules_topic
    partition, offset = await asyncio.to_thread(ctx.produce, topic, schedule_id, value)
    projected = await ctx.wait_projected(topic, partition, offset)
    return {"schedule_id": schedule_id, "event_id": record.event_id, "partition": partition, "offset": offset,
            "projected": projected}


def existing(ctx: Context, principal: Principal, schedule_id: str, permission: Permission) -> dict[str, Any]:
    """The live schedule, if ``principal`` may act on it; one it may not even read is a 404."""
    with ctx.db() as conn:
        found = get_schedule(conn, schedule_id)
    if (found is None or found["status"] == "DELETED"
            or not ctx.access.may(principal, Permission.READ, project_of(found["flow"]))):
        raise ServiceError(404, f"schedule {schedule_id[:200]!r} not found")
    ctx.access.require(principal, permission, project_of(found["flow"]))
    return found


def check_flow_exists(ctx: Context, flow: str, version: str | None) -> None:
    with ctx.db() as conn:
        if "/" in flow:
            project, name = flow.split("/", 1)
            found = queries.project_flow(conn, project, name, version) is not None
        else:
            found = queries.flow_source(conn, flow, version) is not None
    if not found:
        raise ServiceError(404, f"flow {flow!r}" + (f" version {version}" if version else "") + " is not registered")


def spec_or_422(body: dict[str, Any], base: Any = None) -> Any:
    try:
        return spec_from_request(body, base)
    except ScheduleRequestError as exc:
        raise ServiceError(422, "invalid schedule", exc.problems) from exc


@router.post("", status_code=201)
async def create_schedule(principal: Caller, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Create a schedule: `flow`, `cron` (Unix, Quartz, @daily, or `every 15m`), and optionally `schedule_id`,
    `timezone`, `params`, `version`, `start`, `end`, `overlap`, `catchup`, `catchup_window`, `jitter`."""
    body = await read_json(request)
    try:
        schedule_id = schedule_id_of(body)
    except ScheduleRequestError as exc:
        raise ServiceError(422, "invalid schedule", exc.problems) from exc
    spec = spec_or_422(body)
    await asyncio.to_thread(ctx.access.require, principal, Permission.SCHEDULE, project_of(spec.flow))
    await asyncio.to_thread(check_flow_exists, ctx, spec.flow, spec.version)
    with ctx.db() as conn:
        if get_schedule(conn, schedule_id) is not None:
            raise ServiceError(409, f"schedule {schedule_id!r} exists already")
    answer = await write(ctx, schedule_id, se.ScheduleCreated(spec, principal.name))
    answer["next_fires"] = preview(spec.cadence, spec.timezone, spec.start_at, 5, now_ms(), spec.start_at)
    return answer


@router.get("")
def schedules(principal: Caller, ctx: Ctx, flow: str | None = Query(None, max_length=511),
              deleted: bool = False) -> dict[str, Any]:
    readable = ctx.access.readable_projects(principal)
    with ctx.db() as conn:
        found = list_schedules(conn, flow, deleted)
    return {"schedules": [s for s in found if readable is None or project_of(s["flow"]) in readable]}


@router.get("/preview")
def preview_schedule(principal: Caller, cron: str = Query(max_length=200), timezone: str = Query("UTC", max_length=64),
                     start: str | None = Query(None, alias="from", max_length=64),
                     count: int = Query(10, ge=1, le=1000)) -> dict[str, Any]:
    """The next fire times of an expression in a time zone: check a schedule before you create it."""
    try:
        return {"cron": cron, "timezone": timezone, "fires": preview(cron, timezone, start, count, now_ms())}
    except ScheduleRequestError as exc:
        raise ServiceError(422, "; ".join(exc.problems), exc.problems) from exc


@router.get("/{schedule_id}")
def show_schedule(principal: Caller, ctx: Ctx, schedule_id: str,
                  fires: int = Query(20, ge=0, le=1000)) -> dict[str, Any]:
    with ctx.db() as conn:
        found = get_schedule(conn, schedule_id)
        if found is None or not ctx.access.may(principal, Permission.READ, project_of(found["flow"])):
            raise ServiceError(404, f"schedule {schedule_id[:200]!r} not found")
        found["fires"] = schedule_fires(conn, schedule_id, fires)
        found["backfills"] = schedule_backfills(conn, schedule_id)
    return found


@router.get("/{schedule_id}/events")
def events_of(principal: Caller, ctx: Ctx, schedule_id: str) -> dict[str, Any]:
    """A schedule's records in log order: every change, tick, decision and run end."""
    with ctx.db() as conn:
        found = get_schedule(conn, schedule_id)
        visible = found is not None and ctx.access.may(principal, Permission.READ, project_of(found["flow"]))
        records = schedule_events(conn, schedule_id) if visible else []
    if not records:
        raise ServiceError(404, f"schedule {schedule_id[:200]!r} not found")
    return {"events": records}


@router.patch("/{schedule_id}")
async def update_schedule(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    body = await read_json(request)
    found = await asyncio.to_thread(existing, ctx, principal, schedule_id, Permission.SCHEDULE)
    base = spec_or_422({"flow": found["flow"], "cron": found["cron"], "timezone": found["timezone"],
                        "params": found["params"], "version": found["version"], "start": found["start_at"],
                        "end": found["end_at"], "overlap": found["overlap"], "catchup": found["catchup"],
                        "catchup_window": f"{found['catchup_window_ms']}ms", "jitter": f"{found['jitter_ms']}ms",
                        "dependencies": found["dependencies"],
                        "max_wait": f"{found['max_wait_ms']}ms" if found["max_wait_ms"] else None})
    base = replace(base, origin=found["origin"])
    spec = spec_or_422(body, base)
    if spec.flow != base.flow or spec.version != base.version:
        await asyncio.to_thread(ctx.access.require, principal, Permission.SCHEDULE, project_of(spec.flow))
        await asyncio.to_thread(check_flow_exists, ctx, spec.flow, spec.version)
    return await write(ctx, schedule_id, se.ScheduleUpdated(spec, principal.name))


async def control(ctx: Context, principal: Principal, schedule_id: str, request: Request, permission: Permission,
                  make: Callable[[str, dict[str, Any]], se.Payload]) -> dict[str, Any]:
    body = await read_json(request)
    await asyncio.to_thread(existing, ctx, principal, schedule_id, permission)
    return await write(ctx, schedule_id, make(principal.name, body))


@router.post("/{schedule_id}/pause", status_code=202)
async def pause(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    return await control(ctx, principal, schedule_id, request, Permission.SCHEDULE,
                         lambda by, body: se.SchedulePaused(by, body.get("note")))


@router.post("/{schedule_id}/resume", status_code=202)
async def resume(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    return await control(ctx, principal, schedule_id, request, Permission.SCHEDULE,
                         lambda by, body: se.ScheduleResumed(by))


@router.post("/{schedule_id}/trigger", status_code=202)
async def trigger(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    """Run the schedule's flow now, once (its overlap policy applies): EXECUTE on its project."""
    return await control(ctx, principal, schedule_id, request, Permission.EXECUTE,
                         lambda by, body: se.ScheduleTriggered(by))


@router.post("/{schedule_id}/backfill", status_code=202)
async def backfill(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    """Run the ticks of a past range: `from`, `to`, and optionally `overlap` (wait, the default; skip;
    allow_all), `max_per_minute` (0: no limit) and `backfill_id`. Each tick starts an execution of its own."""
    body = await read_json(request)
    found = await asyncio.to_thread(existing, ctx, principal, schedule_id, Permission.SCHEDULE)
    spec = spec_or_422({"flow": found["flow"], "cron": found["cron"], "timezone": found["timezone"]})
    anchor = found["start_at"] or found["created_at"]
    try:
        requested, ticks = backfill_from_request({**body, "by": principal.name}, spec, int(
            dt.datetime.fromisoformat(anchor).timestamp() * 1000), now_ms())
    except ScheduleRequestError as exc:
        raise ServiceError(422, "invalid backfill", exc.problems) from exc
    with ctx.db() as conn:
        if any(b["backfill_id"] == requested.backfill_id for b in schedule_backfills(conn, schedule_id)):
            raise ServiceError(409, f"backfill {requested.backfill_id!r} exists already")
    answer = await write(ctx, schedule_id, requested)
    return {**answer, "backfill_id": requested.backfill_id, "ticks": ticks}


@router.delete("/{schedule_id}", status_code=202)
async def delete(principal: Caller, ctx: Ctx, schedule_id: str, request: Request) -> dict[str, Any]:
    return await control(ctx, principal, schedule_id, request, Permission.SCHEDULE,
                         lambda by, body: se.ScheduleDeleted(by))
