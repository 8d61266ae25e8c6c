"""Schedule requests, free of any web framework: a request's fields into a checked spec, the event a change
writes, and previews of fire times. The API and the CLI both speak through these."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml

from engine.clock import iso_from_ms, utc_from_ms
from engine.domain.cadence import CadenceError, fire_times, instant_of, parse, zone
from engine.domain.schedule import events as se
from engine.domain.schedule.spec import DEFAULT_CATCHUP_WINDOW_MS, ScheduleSpec, spec_problems
from engine.domain.schedule.state import BACKFILL_OVERLAPS
from engine.domain.triggers import TriggerDependency, parse_trigger
from engine.domain.units import duration_ms

SCHEDULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_PREVIEW = 1000
SPEC_FIELDS = ("flow", "cron", "timezone", "params", "version", "start", "end", "overlap", "catchup",
               "catchup_window", "jitter", "dependencies", "max_wait")


class ScheduleRequestError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def instant(value: Any, timezone: str, what: str) -> int | None:
    """An ISO-8601 time (with an offset, or read in ``timezone``) or UTC milliseconds -> UTC milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ScheduleRequestError([f"{what}: {value!r} is not a time"])
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleRequestError([f"{what}: {value!r} is not an ISO-8601 time (e.g. 2027-03-27T02:30)"]) from exc
    if moment.tzinfo is None:
        return instant_of(moment, zone(timezone))
    return round(moment.timestamp() * 1000)


def spec_from_request(body: Mapping[str, Any], base: ScheduleSpec | None = None) -> ScheduleSpec:
    """The spec a create (no ``base``) or an update (``base``: fields not given stay) asks for, or
    ScheduleRequestError listing every problem."""
    unknown = sorted(set(body) - {*SPEC_FIELDS, "schedule_id", "by"})
    problems = [f"unknown field {name!r} (fields: {', '.join(SPEC_FIELDS)})" for name in unknown]
    if base is None and not body.get("flow"):
        problems.append("flow: a flow name is required")
    if base is None and not body.get("cron"):
        problems.append("cron: when it fires is required (cron, Quartz cron, @daily or 'every 15m')")
    params = body.get("params", base.params if base else {})
    if not isinstance(params, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in params.items()):
        problems.append("params: an object of text values")
        params = {}
    timezone = body.get("timezone") or (base.timezone if base else "UTC")
    changes: dict[str, Any] = {}
    if body.get("dependencies") is not None:
        dependencies, found = _dependencies(body["dependencies"])
        changes["dependencies"] = dependencies
        problems += found
    for name, field in (("catchup_window", "catchup_window_ms"), ("jitter", "jitter_ms"), ("max_wait", "max_wait_ms")):
        if body.get(name) is not None:
            try:
                changes[field] = duration_ms(body[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
    try:
        zone(str(timezone))
        for name, field in (("start", "start_at"), ("end", "end_at")):
            if name in body:
                changes[field] = instant(body[name], str(timezone), name)
    except CadenceError as exc:
        problems.append(f"timezone: {exc}")
    except ScheduleRequestError as exc:
        problems += exc.problems
    if problems:
        raise ScheduleRequestError(problems)
    start = base or ScheduleSpec(flow="", cadence="", catchup_window_ms=DEFAULT_CATCHUP_WINDOW_MS)
    for name, field in (("flow", "flow"), ("cron", "cadence"), ("version", "version"), ("overlap", "overlap"),
                        ("catchup", "catchup")):
        if body.get(name) is not None:
            changes[field] = str(body[name])
    spec = replace(start, timezone=str(timezone), params=dict(params), **changes)
    problems = spec_problems(spec)
    if problems:
        raise ScheduleRequestError(problems)
    return spec


def _dependencies(raw: Any) -> tuple[tuple[TriggerDependency, ...], list[str]]:
    """A request's dependencies: [{name, type, params}] as Azkaban's triggerDependencies write them."""
    if not isinstance(raw, list):
        return (), ["dependencies: a list of {name, type, params}"]
    out, problems = [], []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or \
                not isinstance(item.get("type"), str) or not isinstance(item.get("params", {}), Mapping):
            problems.append("dependencies: each is {name, type, params} with text values")
            continue
        out.append(TriggerDependency(item["name"], item["type"], {str(k): str(v) for k, v in
                                                                  item.get("params", {}).items()}))
    return tuple(out), problems


def schedule_id_of(body: Mapping[str, Any]) -> str:
    given = body.get("schedule_id")
    if given is None:
        return str(uuid.uuid4())
    if not isinstance(given, str) or not SCHEDULE_ID.fullmatch(given):
        raise ScheduleRequestError(["schedule_id: 1 to 100 letters, digits, '_', '.' or '-', starting with a letter "
                                    "or digit"])
    return given


MAX_BACKFILL_TICKS = 100_000


def backfill_from_request(body: Mapping[str, Any], spec: ScheduleSpec, anchor: int, now: int
                          ) -> tuple[se.ScheduleBackfillRequested, int]:
    """The backfill a request asks for and how many ticks its range holds, or ScheduleRequestError."""
    unknown = sorted(set(body) - {"from", "to", "overlap", "max_per_minute", "backfill_id", "by"})
    problems = [f"unknown field {name!r} (fields: from, to, overlap, max_per_minute, backfill_id)"
                for name in unknown]
    try:
        start = instant(body.get("from"), spec.timezone, "from")
        end = instant(body.get("to"), spec.timezone, "to")
    except ScheduleRequestError as exc:
        problems += exc.problems
        start = end = None
    if start is None or end is None:
        problems.append("from and to are required (ISO-8601 times; without an offset, in the schedule's zone)")
    elif end < start:
        problems.append("to: must not be before from")
    elif end > now:
        problems.append("to: a backfill runs past ticks; the range must end by now")
    overlap = body.get("overlap") or "wait"
    if overlap not in BACKFILL_OVERLAPS:
        problems.append(f"overlap: {overlap!r} is not one of {', '.join(BACKFILL_OVERLAPS)}")
    pace = body.get("max_per_minute", 0)
    if not isinstance(pace, int) or isinstance(pace, bool) or not 0 <= pace <= 60_000:
        problems.append("max_per_minute: a whole number from 0 (no limit) to 60000")
    backfill_id = body.get("backfill_id") or str(uuid.uuid4())
    if not isinstance(backfill_id, str) or not SCHEDULE_ID.fullmatch(backfill_id):
        problems.append("backfill_id: 1 to 100 letters, digits, '_', '.' or '-'")
    if problems:
        raise ScheduleRequestError(problems)
    assert start is not None and end is not None
    ticks = len(fire_times(parse(spec.cadence), spec.timezone, start - 1, MAX_BACKFILL_TICKS + 1,
                           min(anchor, start), end))
    if ticks > MAX_BACKFILL_TICKS:
        raise ScheduleRequestError([f"the range holds more than {MAX_BACKFILL_TICKS:,} ticks; split it"])
    return se.ScheduleBackfillRequested(backfill_id, start, end, str(overlap), pace, str(body.get("by") or "api")), \
        ticks


def trigger_schedule_id(flow_ref: str) -> str:
    """The schedule a flow's trigger block makes: ``trigger:FLOW``, or ``trigger:PROJECT:FLOW`` (API-given ids
    cannot hold ':', so the two never meet)."""
    return "trigger:" + flow_ref.replace("/", ":")


def trigger_spec(flow_ref: str, source: str) -> tuple[ScheduleSpec | None, list[str]]:
    """The schedule an Azkaban ``trigger:`` block in ``source`` asks for (None without one), and why it cannot be
    made when it cannot. Each cron fire is a trigger instance of its own in Azkaban, hence overlap allow_all."""
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError:
        return None, []
    raw = doc.get("trigger") if isinstance(doc, Mapping) else None
    if raw is None:
        return None, []
    trigger, problems = parse_trigger(raw)
    if trigger is None:
        return None, problems
    spec = ScheduleSpec(flow=flow_ref, cadence=trigger.cron.text, overlap="allow_all",
                        dependencies=trigger.dependencies, origin="trigger",
                        max_wait_ms=trigger.max_wait_mins * 60_000 if trigger.max_wait_mins else None)
    problems = spec_problems(spec)
    return (None, problems) if problems else (spec, [])


def trigger_change(flow_ref: str, source: str, existing: Mapping[str, Any] | None, by: str,
                   ) -> tuple[se.Payload | None, list[str]]:
    """What registering ``source`` does to the flow's trigger schedule: create it, update it, delete it (the
    trigger block is gone) or nothing; with the reasons a trigger block could not be scheduled."""
    spec, problems = trigger_spec(flow_ref, source)
    live = existing is not None and existing.get("status") != "DELETED"
    if spec is None:
        return (se.ScheduleDeleted(by) if live else None), problems
    if existing is None:
        return se.ScheduleCreated(spec, by), []
    return se.ScheduleUpdated(spec, by), []


def event(schedule_id: str, payload: se.Payload, now: int) -> se.ScheduleEvent:
    return se.ScheduleEvent(str(uuid.uuid4()), schedule_id, now, "api", payload)


def preview(cron: str, timezone: str = "UTC", start: Any = None, count: int = 10, now: int = 0,
            anchor: int | None = None) -> list[dict[str, str]]:
    """The next ``count`` fire times after ``start`` (default ``now``), in UTC and in the schedule's zone."""
    problems = []
    try:
        cadence = parse(cron)
        zone(timezone)
    except CadenceError as exc:
        problems.append(str(exc))
    if not 1 <= count <= MAX_PREVIEW:
        problems.append(f"count: between 1 and {MAX_PREVIEW}")
    if problems:
        raise ScheduleRequestError(problems)
    after = (instant(start, timezone, "from") or now) - 1
    times = fire_times(cadence, timezone, after, count, anchor if anchor is not None else after + 1)
    return [{"utc": iso_from_ms(t), "local": local_iso(t, timezone)} for t in times]


def local_iso(ms: int, timezone: str) -> str:
    return utc_from_ms(ms).astimezone(zone(timezone)).isoformat()
