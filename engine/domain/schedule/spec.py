"""What a schedule says: which flow with which params, when (a cadence in a time zone, between start and end),
and what to do with a tick that comes while a run is still going (overlap) or was missed (catch-up)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.domain.cadence import CadenceError, parse, zone
from engine.domain.schedule.matching import dependency_problems
from engine.domain.triggers import MAX_WAIT_MINS, TriggerDependency

OVERLAP_POLICIES = ("skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all")
CATCHUP_POLICIES = ("none", "latest", "all")
DEFAULT_CATCHUP_WINDOW_MS = 3_600_000
MAX_CATCHUP_WINDOW_MS = 366 * 86_400_000
MAX_JITTER_MS = 3_600_000
MAX_PARAMS = 1000
# a trigger block holds whole minutes, at least one (Azkaban's rule, checked where it is read); a schedule made
# through the API may wait less
MIN_WAIT_MS, MAX_WAIT_MS = 1000, MAX_WAIT_MINS * 60_000


@dataclass(frozen=True)
class ScheduleSpec:
    flow: str  # a registered flow's name, or PROJECT/FLOW
    cadence: str  # Unix or Quartz cron, a macro, or "every <duration>" (engine.domain.cadence)
    timezone: str = "UTC"
    params: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None  # pin: a definition hash (flows) or an archive sha256 (projects); None: the latest
    start_at: int | None = None  # UTC ms; no tick before it (an interval counts from it)
    end_at: int | None = None  # UTC ms; no tick after it
    overlap: str = "skip"
    catchup: str = "latest"
    catchup_window_ms: int = DEFAULT_CATCHUP_WINDOW_MS
    jitter_ms: int = 0  # each tick fires up to this much after its time, by a fixed amount per tick
    # an event trigger (Azkaban's triggerDependencies): a tick waits, up to max_wait_ms, for a record of each
    dependencies: tuple[TriggerDependency, ...] = ()
    max_wait_ms: int | None = None
    origin: str = "api"  # "trigger": made from a flow's trigger block, kept in step with it on registration

    @property
    def project(self) -> str | None:
        return self.flow.split("/", 1)[0] if "/" in self.flow else None

    @property
    def flow_name(self) -> str:
        return self.flow.split("/", 1)[1] if "/" in self.flow else self.flow


def spec_problems(spec: ScheduleSpec) -> list[str]:
    """Everything wrong with ``spec``, each said in full; empty when it can be scheduled."""
    problems: list[str] = []
    if not spec.flow or not spec.flow.strip():
        problems.append("flow: a flow name is required")
    try:
        parse(spec.cadence)
    except CadenceError as exc:
        problems.append(f"cron: {exc}")
    try:
        zone(spec.timezone)
    except CadenceError as exc:
        problems.append(f"timezone: {exc}")
    if spec.overlap not in OVERLAP_POLICIES:
        problems.append(f"overlap: {spec.overlap!r} is not one of {', '.join(OVERLAP_POLICIES)}")
    if spec.catchup not in CATCHUP_POLICIES:
        problems.append(f"catchup: {spec.catchup!r} is not one of {', '.join(CATCHUP_POLICIES)}")
    if not 0 <= spec.catchup_window_ms <= MAX_CATCHUP_WINDOW_MS:
        problems.append(f"catchup_window: must be between 0 and 366 days (got {spec.catchup_window_ms} ms)")
    if not 0 <= spec.jitter_ms <= MAX_JITTER_MS:
        problems.append(f"jitter: must be between 0 and 1 hour (got {spec.jitter_ms} ms)")
    if spec.start_at is not None and spec.end_at is not None and spec.end_at <= spec.start_at:
        problems.append("end: must be after start")
    if len(spec.params) > MAX_PARAMS:
        problems.append(f"params: at most {MAX_PARAMS}")
    for dependency in spec.dependencies:
        problems += dependency_problems(dependency)
    if len({d.name for d in spec.dependencies}) != len(spec.dependencies):
        problems.append("dependencies: each needs a name of its own")
    if spec.dependencies and (spec.max_wait_ms is None or not MIN_WAIT_MS <= spec.max_wait_ms <= MAX_WAIT_MS):
        problems.append("max_wait: with dependencies, between 1 second and 10 days")
    return problems
