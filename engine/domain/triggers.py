"""Azkaban Flow 2.0 ``trigger:`` blocks, validated with Azkaban's rules (``NodeBeanLoader.validateFlowTriggerBean``).

A trigger is a Quartz cron schedule, an optional ``maxWaitMins`` and ``triggerDependencies`` (name, type,
params). Loading only checks and keeps it: what a trigger does at run time belongs to the schedules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.domain import quartz

MIN_WAIT_MINS = 1  # Constants.MIN_FLOW_TRIGGER_WAIT_TIME
MAX_WAIT_MINS = 10 * 24 * 60  # Constants.DEFAULT_FLOW_TRIGGER_MAX_WAIT_TIME: larger values are capped to it
TRIGGER_KEYS = {"schedule", "maxWaitMins", "triggerDependencies"}
DEPENDENCY_KEYS = {"name", "type", "params"}


@dataclass(frozen=True)
class TriggerDependency:
    name: str
    type: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Trigger:
    cron: quartz.CronExpression
    max_wait_mins: int | None
    dependencies: tuple[TriggerDependency, ...]


def parse_trigger(raw: Any) -> tuple[Trigger | None, list[str]]:
    """The trigger and no problems, or None and every problem found (Azkaban's messages, in its order)."""
    if not isinstance(raw, Mapping):
        return None, ["trigger must be a mapping with schedule, maxWaitMins and triggerDependencies"]
    problems = [f"unknown trigger key {key!r}" for key in raw if key not in TRIGGER_KEYS]
    cron = _schedule(raw.get("schedule"), problems)
    dependencies = _dependencies(raw.get("triggerDependencies"), problems)
    wait = _max_wait(raw.get("maxWaitMins"), bool(dependencies), problems)
    if problems or cron is None:
        return None, problems
    return Trigger(cron, wait, tuple(dependencies)), []


def _schedule(raw: Any, problems: list[str]) -> quartz.CronExpression | None:
    if raw is None:
        problems.append("flow trigger schedule must not be null")
        return None
    if not isinstance(raw, Mapping):
        problems.append("flow trigger schedule must be a mapping with type and value")
        return None
    if raw.get("type") != "cron":
        problems.append("flow trigger schedule type must be cron")
    cron = None
    value = raw.get("value")
    try:
        cron = quartz.parse(str(value) if value is not None else "")
    except quartz.CronError as exc:
        problems.append(f"flow trigger schedule value must be a valid cron expression: {exc}")
    if cron is not None and cron.seconds != "0":
        problems.append("interval of flow trigger schedule has to be larger than 1 min (its seconds field must be 0)")
    if set(raw) != {"type", "value"}:
        problems.append("flow trigger schedule must contain type and value only")
    return cron


def _dependencies(raw: Any, problems: list[str]) -> list[TriggerDependency]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append("triggerDependencies must be a list")
        return []
    out: list[TriggerDependency] = []
    for item in raw:
        if not isinstance(item, Mapping):
            problems.append("each trigger dependency must be a mapping with name, type and params")
            continue
        problems += [f"unknown trigger dependency key {key!r}" for key in item if key not in DEPENDENCY_KEYS]
        name, kind, params = item.get("name"), item.get("type"), item.get("params") or {}
        if name is None:
            problems.append("dependency name is required")
            continue
        if kind is None:
            problems.append(f"dependency type is required for {name}")
            continue
        if not isinstance(params, Mapping):
            problems.append(f"params of dependency {name} must be a mapping")
            continue
        out.append(TriggerDependency(str(name), str(kind), {str(k): str(v) for k, v in params.items()}))
    seen: set[str] = set()
    for dependency in out:
        if dependency.name in seen:
            problems.append(f"duplicate dependency.name {dependency.name} found, dependency.name should be unique")
        seen.add(dependency.name)
    for index, first in enumerate(out):
        if any(first.type == later.type and first.params == later.params for later in out[index + 1:]):
            problems.append(f"duplicate dependency config {first.name} found, dependency config should be unique")
    return out


def _max_wait(raw: Any, has_dependencies: bool, problems: list[str]) -> int | None:
    if raw is None:
        if has_dependencies:
            problems.append("max wait min cannot be null unless no dependency is defined")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.append(f"maxWaitMins must be a whole number of minutes, not {raw!r}")
        return None
    if raw < MIN_WAIT_MINS:
        problems.append(f"max wait min must be at least {MIN_WAIT_MINS} min(s)")
        return None
    return min(raw, MAX_WAIT_MINS)
