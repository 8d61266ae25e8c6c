"""Schedule routes: create, list, show, update, pause, resume, trigger, delete, preview. Each change is one record
on the schedules topic; reads come from the schedule views. The rules live in engine/schedule_requests (no
FastAPI there) and engine/domain/schedule."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Query, Request

from engine.api.errors import ApiError
from engine.api.wiring import Db, Produce, WaitProjected
from engine.clock import now_ms
from engine.codec.schedule_records import encode_schedule_event
from engine.config import Settings
from engine.domain.schedule import events as se
from engine.schedule_requests import (
    ScheduleRequestError,
    backfill_from_request,
    event,
    preview,
    schedule_id_of,
    spec_from_request,
    trigger_change,
    trigger_schedule_id,
)
from projections import queries
from projections.schedule_queries import (
    get_schedule,
    list_schedules,
    schedule_backfills,
    schedule_events,
    schedule_fires,
)

MAX_BODY = 256 * 1024


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"the request is {len(body):,} bytes; at most {MAX_BODY:,} are accepted")
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


async def sync_trigger(settings: Settings, db: Db, produce: Produce, flow_ref: str, source: str,
                       by: str) -> dict[str, Any] | None:
    """Keep the flow's trigger schedule in step with its trigger block (after the definition was written)."""
    schedule_id = trigger_schedule_id(flow_ref)

    def existing() -> dict[str, Any] | None:
        with db() as conn:
            return get_schedule(conn, schedule_id)

    change, problems = trigger_change(flow_ref, source, await asyncio.to_thread(existing), by)
    if change is None:
        return {"schedule_id": schedule_id, "problems": problems} if problems else None
    record = event(schedule_id, change, now_ms())
    await asyncio.to_thread(produce, settings.schedules_topic, schedule_id,
                            encode_schedule_event(record, settings.schema_registry_url))
    return {"schedule_id": schedule_id, "change": type(change).__name__, "problems": problems}


def add_schedule_routes(app: FastAPI, settings: Settings, db: Db, produce: Produce,
                        wait_projected: WaitProjected) -> None:
    async def write(schedule_id: str, payload: se.Payload) -> dict[str, Any]:
        record = event(schedule_id, payload, now_ms())
        value = encode_schedule_event(record, settings.schema_registry_url)
        partition, offset = await asyncio.to_thread(produce, settings.schedules_topic, schedule_id, value)
        projected = await wait_projected(settings.schedules_topic, partition, offset)
        return {"schedule_id": schedule_id, "event_id": record.event_id, "partition": partition, "offset": offset,
                "projected": projected}

    def existing(schedule_id: str) -> dict[str, Any]:
        with db() as conn:
            found = get_schedule(conn, schedule_id)
        if found is None or found["status"] == "DELETED":
            raise ApiError(404, f"schedule {schedule_id!r} not found")
        return found

    def check_flow_exists(flow: str, version: str | None) -> None:
        with db() as conn:
            if "/" in flow:
                project, name = flow.split("/", 1)
                found = queries.project_flow(conn, project, name, version) is not None
            else:
                found = queries.flow_source(conn, flow, version) is not None
        if not found:
            raise ApiError(404, f"flow {flow!r}" + (f" version {version}" if version else "") + " is not registered")

    def spec_or_422(body: dict[str, Any], base: Any = None) -> Any:
        try:
            return spec_from_request(body, base)
        except ScheduleRequestError as exc:
            raise ApiError(422, "invalid schedule", exc.problems) from exc

    @app.post("/api/v1/schedules", status_code=201)
    async def create_schedule(request: Request) -> dict[str, Any]:
        """Create a schedule: `flow`, `cron` (Unix, Quartz, @daily, or `every 15m`), and optionally `schedule_id`,
        `timezone`, `params`, `version`, `start`, `end`, `overlap`, `catchup`, `catchup_window`, `jitter`."""
        body = await read_json(request)
        try:
            schedule_id = schedule_id_of(body)
        except ScheduleRequestError as exc:
            raise ApiError(422, "invalid schedule", exc.problems) from exc
        spec = spec_or_422(body)
        await asyncio.to_thread(check_flow_exists, spec.flow, spec.version)
        with db() as conn:
            if get_schedule(conn, schedule_id) is not None:
                raise ApiError(409, f"schedule {schedule_id!r} exists already")
        answer = await write(schedule_id, se.ScheduleCreated(spec, str(body.get("by") or "api")))
        answer["next_fires"] = preview(spec.cadence, spec.timezone, spec.start_at, 5, now_ms(), spec.start_at)
        return answer

    @app.get("/api/v1/schedules")
    def schedules(flow: str | None = None, deleted: bool = False) -> dict[str, Any]:
        with db() as conn:
            return {"schedules": list_schedules(conn, flow, deleted)}

    @app.get("/api/v1/schedules/preview")
    def preview_schedule(cron: str, timezone: str = "UTC", start: str | None = Query(None, alias="from"),
                         count: int = 10) -> dict[str, Any]:
        """The next fire times of an expression in a time zone: check a schedule before you create it."""
        try:
            return {"cron": cron, "timezone": timezone, "fires": preview(cron, timezone, start, count, now_ms())}
        except ScheduleRequestError as exc:
            raise ApiError(422, "; ".join(exc.problems), exc.problems) from exc

    @app.get("/api/v1/schedules/{schedule_id}")
    def show_schedule(schedule_id: str, fires: int = Query(20, ge=0, le=1000)) -> dict[str, Any]:
        with db() as conn:
            found = get_schedule(conn, schedule_id)
            if found is None:
                raise ApiError(404, f"schedule {schedule_id!r} not found")
            found["fires"] = schedule_fires(conn, schedule_id, fires)
            found["backfills"] = schedule_backfills(conn, schedule_id)
        return found

    @app.get("/api/v1/schedules/{schedule_id}/events")
    def events_of(schedule_id: str) -> dict[str, Any]:
        """A schedule's records in log order: every change, tick, decision and run end."""
        with db() as conn:
            found = schedule_events(conn, schedule_id)
        if not found:
            raise ApiError(404, f"schedule {schedule_id!r} not found")
        return {"events": found}

    @app.patch("/api/v1/schedules/{schedule_id}")
    async def update_schedule(schedule_id: str, request: Request) -> dict[str, Any]:
        body = await read_json(request)
        found = await asyncio.to_thread(existing, schedule_id)
        base = spec_or_422({"flow": found["flow"], "cron": found["cron"], "timezone": found["timezone"],
                            "params": found["params"], "version": found["version"], "start": found["start_at"],
                            "end": found["end_at"], "overlap": found["overlap"], "catchup": found["catchup"],
                            "catchup_window": f"{found['catchup_window_ms']}ms", "jitter": f"{found['jitter_ms']}ms",
                            "dependencies": found["dependencies"],
                            "max_wait": f"{found['max_wait_ms']}ms" if found["max_wait_ms"] else None})
        base = replace(base, origin=found["origin"])
        spec = spec_or_422(body, base)
        if spec.flow != base.flow or spec.version != base.version:
            await asyncio.to_thread(check_flow_exists, spec.flow, spec.version)
        return await write(schedule_id, se.ScheduleUpdated(spec, str(body.get("by") or "api")))

    async def control(schedule_id: str, request: Request, make: Any) -> dict[str, Any]:
        body = await read_json(request)
        await asyncio.to_thread(existing, schedule_id)
        return await write(schedule_id, make(str(body.get("by") or "api"), body))

    @app.post("/api/v1/schedules/{schedule_id}/pause", status_code=202)
    async def pause(schedule_id: str, request: Request) -> dict[str, Any]:
        return await control(schedule_id, request, lambda by, body: se.SchedulePaused(by, body.get("note")))

    @app.post("/api/v1/schedules/{schedule_id}/resume", status_code=202)
    async def resume(schedule_id: str, request: Request) -> dict[str, Any]:
        return await control(schedule_id, request, lambda by, body: se.ScheduleResumed(by))

    @app.post("/api/v1/schedules/{schedule_id}/trigger", status_code=202)
    async def trigger(schedule_id: str, request: Request) -> dict[str, Any]:
        """Run the schedule's flow now, once (its overlap policy applies)."""
        return await control(schedule_id, request, lambda by, body: se.ScheduleTriggered(by))

    @app.post("/api/v1/schedules/{schedule_id}/backfill", status_code=202)
    async def backfill(schedule_id: str, request: Request) -> dict[str, Any]:
        """Run the ticks of a past range: `from`, `to`, and optionally `overlap` (wait, the default; skip;
        allow_all), `max_per_minute` (0: no limit) and `backfill_id`. Each tick starts an execution of its own."""
        body = await read_json(request)
        found = await asyncio.to_thread(existing, schedule_id)
        spec = spec_or_422({"flow": found["flow"], "cron": found["cron"], "timezone": found["timezone"]})
        anchor = found["start_at"] or found["created_at"]
        try:
            requested, ticks = backfill_from_request(body, spec, int(dt.datetime.fromisoformat(anchor).timestamp()
                                                                     * 1000), now_ms())
        except ScheduleRequestError as exc:
            raise ApiError(422, "invalid backfill", exc.problems) from exc
        with db() as conn:
            if any(b["backfill_id"] == requested.backfill_id for b in schedule_backfills(conn, schedule_id)):
                raise ApiError(409, f"backfill {requested.backfill_id!r} exists already")
        answer = await write(schedule_id, requested)
        return {**answer, "backfill_id": requested.backfill_id, "ticks": ticks}

    @app.delete("/api/v1/schedules/{schedule_id}", status_code=202)
    async def delete(schedule_id: str, request: Request) -> dict[str, Any]:
        return await control(schedule_id, request, lambda by, body: se.ScheduleDeleted(by))
