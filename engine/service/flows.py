"""Flows: register a definition (in the default project), list them, show one's versions. Parsing runs off the
event loop: a hostile document costs a thread its time, never the server's other requests."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.access.permissions import DEFAULT_PROJECT, Permission, Principal
from engine.clock import now_ms
from engine.codec import codec
from engine.codec.records import flow_registered
from engine.domain.loader import check_flow, flow_warnings
from engine.domain.problems import Problem
from engine.domain.spec import FlowSpec
from engine.service.context import Context
from engine.service.errors import ServiceError
from engine.service.triggers import apply_trigger, plan_trigger
from projections import queries

MAX_FLOW_BYTES = 512 * 1024  # a registered source, with its record framing, must fit in one Kafka record


async def check_flow_async(text: str, default_name: str = "flow") -> tuple[FlowSpec | None, list[Problem]]:
    return await asyncio.to_thread(check_flow, text, default_name)


async def register(ctx: Context, principal: Principal, body: bytes, name: str | None) -> dict[str, Any]:
    """A flow registered without a project belongs to the default project: WRITE there, and SCHEDULE too when
    its trigger block changes a schedule."""
    if len(body) > MAX_FLOW_BYTES:
        raise ServiceError(413, f"flow definition is {len(body)} bytes; at most {MAX_FLOW_BYTES} are accepted")
    await asyncio.to_thread(ctx.access.require, principal, Permission.WRITE, DEFAULT_PROJECT)
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServiceError(400, "flow definition must be UTF-8 text") from exc
    spec, problems = await check_flow_async(source, default_name=name or "flow")
    if problems or spec is None:
        raise ServiceError(422, "invalid flow definition", [p.to_dict() for p in problems])
    plan = await plan_trigger(ctx, principal, spec.name, source)
    record = flow_registered(spec.name, spec.version_hash(), source, principal.name, now_ms())
    partition, offset = await asyncio.to_thread(
        ctx.produce, ctx.settings.definitions_topic, spec.name,
        codec("definitions", ctx.settings.schema_registry_url).encode(record))
    trigger = await apply_trigger(ctx, plan)
    projected = await ctx.wait_projected(ctx.settings.definitions_topic, partition, offset)
    return {"name": spec.name, "version": spec.version_hash(), "jobs": len(spec.jobs), "offset": offset,
            "partition": partition, "projected": projected, "trigger": trigger, "registered_by": principal.name,
            "warnings": [w.to_dict() for w in flow_warnings(spec)]}


def list_flows(ctx: Context, principal: Principal) -> dict[str, Any]:
    if not ctx.access.may(principal, Permission.READ, DEFAULT_PROJECT):
        return {"flows": []}
    with ctx.db() as conn:
        flows, runs = queries.list_flows(conn), queries.last_runs(conn)
    return {"flows": [{**flow, "last_run": runs.get((DEFAULT_PROJECT, flow["name"]))} for flow in flows]}


def versions(ctx: Context, principal: Principal, name: str) -> dict[str, Any]:
    if ctx.access.may(principal, Permission.READ, DEFAULT_PROJECT):
        with ctx.db() as conn:
            found = queries.flow_versions(conn, name)
    else:
        found = []
    if not found:
        raise ServiceError(404, f"flow {name!r} is not registered")
    return {"name": name, "versions": found}
