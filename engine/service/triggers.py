"""A flow's trigger block kept in step with its schedule on registration and upload. The change is planned
before the definition is written, so a caller who may not schedule is refused with nothing written."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from engine.access.permissions import DEFAULT_PROJECT, Permission, Principal
from engine.clock import now_ms
from engine.codec.schedule_records import encode_schedule_event
from engine.domain.schedule import events as se
from engine.schedule_requests import event, trigger_change, trigger_schedule_id
from engine.service.context import Context
from projections.schedule_queries import get_schedule


@dataclass(frozen=True)
class TriggerPlan:
    flow_ref: str
    schedule_id: str
    change: se.Payload | None
    problems: list[str]

    def answer(self) -> dict[str, Any] | None:
        if self.change is None:
            return {"schedule_id": self.schedule_id, "problems": self.problems} if self.problems else None
        return {"schedule_id": self.schedule_id, "change": type(self.change).__name__, "problems": self.problems}


def project_of(flow_ref: str) -> str:
    return flow_ref.split("/", 1)[0] if "/" in flow_ref else DEFAULT_PROJECT


async def plan_trigger(ctx: Context, principal: Principal, flow_ref: str, source: str) -> TriggerPlan:
    """What registering ``source`` does to the flow's trigger schedule; SCHEDULE on its project when it changes
    one (a trigger runs the flow's commands without anyone submitting it)."""
    schedule_id = trigger_schedule_id(flow_ref)

    def existing() -> dict[str, Any] | None:
        with ctx.db() as conn:
            return get_schedule(conn, schedule_id)

    change, problems = trigger_change(flow_ref, source, await asyncio.to_thread(existing), principal.name)
    if change is not None:
        await asyncio.to_thread(ctx.access.require, principal, Permission.SCHEDULE, project_of(flow_ref))
    return TriggerPlan(flow_ref, schedule_id, change, problems)


async def apply_trigger(ctx: Context, plan: TriggerPlan) -> dict[str, Any] | None:
    """Write the planned change (after the definition was written)."""
    if plan.change is not None:
        record = event(plan.schedule_id, plan.change, now_ms())
        await asyncio.to_thread(ctx.produce, ctx.settings.schedules_topic, plan.schedule_id,
                                encode_schedule_event(record, ctx.settings.schema_registry_url))
    return plan.answer()
