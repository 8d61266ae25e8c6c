"""Azkaban job properties: ``${name}`` in any property value, resolved recursively, and the built-in properties.

A job's properties, from lowest to highest precedence: Azkaban's built-ins (``azkaban.flow.*``, ``azkaban.job.*``),
its parents' outputs, its config (the flow's ``config``, overlaid by each embedded flow's, overlaid by the job's:
the loader merges these), and the runtime params of the submission. That is Azkaban's order with
``azkaban.executor.runtimeProps.override.eager=true`` (FlowRunnerPropertyResolutionTest.
testFlow2_0RuntimePropertyResolutionWithHighestPrecedenceToRuntimePropsEnabled), where a submitted param wins.

Config values are the flow author's code; params, outputs and built-ins are data. Resolving a command expands
references to config textually and leaves references to data as ``${name}``, which the worker substitutes as
variables the shell never parses (workers/shell_params.py). The properties that say what runs (``command``,
``command.N``, ``env.*``, ``working.dir``) come from config only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from engine.clock import utc_from_ms

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_][A-Za-z0-9_.\-]*)\}")
_COMMAND = re.compile(r"command(\.[1-9][0-9]*)?")


class PropertyError(ValueError):
    """A reference that cannot be resolved: a cycle, or a name no property defines."""


def runs_code(name: str) -> bool:
    """Whether a property says what a job runs, or where and with what environment: only config may set it."""
    return _COMMAND.fullmatch(name) is not None or name.startswith("env.") or name in ("working.dir", "type")


def command_names(config: Mapping[str, str]) -> list[str]:
    """``command``, then ``command.1``, ``command.2``, ... up to the first gap (Azkaban's
    ProcessJob.getCommandList); none without a ``command``."""
    if not config.get("command", "").strip():
        return []
    out = ["command"]
    while f"command.{len(out)}" in config:
        out.append(f"command.{len(out)}")
    return out


def builtins(execution_id: str, flow_name: str, job: str, attempt: int, started_at_ms: int,
             project: str | None = None) -> dict[str, str]:
    """Azkaban's built-in properties with Kafkaban's values (FlowUtils.addCommonFlowProperties and
    JobRunner.prepareJob): times in UTC, the execution id for the exec id; attempts count from 0 as there."""
    start = utc_from_ms(started_at_ms)
    return {
        "azkaban.flow.flowid": flow_name,
        "azkaban.flow.execid": execution_id,
        "azkaban.flow.projectname": project or flow_name,
        "azkaban.flow.uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kafkaban:{execution_id}")),
        "azkaban.flow.start.timestamp": start.isoformat(timespec="milliseconds"),
        "azkaban.flow.start.year": f"{start.year:04d}",
        "azkaban.flow.start.month": f"{start.month:02d}",
        "azkaban.flow.start.day": f"{start.day:02d}",
        "azkaban.flow.start.hour": f"{start.hour:02d}",
        "azkaban.flow.start.minute": f"{start.minute:02d}",
        "azkaban.flow.start.second": f"{start.second:02d}",
        "azkaban.flow.start.milliseconds": f"{start.microsecond // 1000:03d}",
        "azkaban.flow.start.timezone": "UTC",
        "azkaban.job.id": job.rsplit("/", 1)[-1],
        "azkaban.job.attempt": str(attempt - 1),
    }


@dataclass(frozen=True)
class Properties:
    config: Mapping[str, str]  # code: the merged flow, embedded flow and job config
    data: Mapping[str, str]  # built-ins, parent outputs and params, already overlaid in that order

    @classmethod
    def of(cls, config: Mapping[str, str], params: Mapping[str, str], outputs: Mapping[str, str] | None = None,
           builtin: Mapping[str, str] | None = None) -> Properties:
        """Lower layers first; a param overrides config of the same name, except what says what runs."""
        data = {**(builtin or {}), **{k: v for k, v in (outputs or {}).items() if not runs_code(k)}}
        data = {k: v for k, v in data.items() if k not in config}
        data.update({k: v for k, v in params.items() if not runs_code(k)})
        return cls({k: v for k, v in config.items() if k not in params or runs_code(k)}, data)

    def value(self, name: str) -> str:
        """A property fully resolved (data substituted as text): for env.*, working.dir and the like."""
        return self._expand(name, (), data_as_text=True)

    def command(self, name: str) -> str:
        """A command with config references expanded and data references left as ``${name}``, for the
        worker's safe substitution."""
        return self._expand(name, (), data_as_text=False)

    def _expand(self, name: str, chain: tuple[str, ...], data_as_text: bool) -> str:
        if name in chain:
            cycle = (*chain[chain.index(name):], name)
            raise PropertyError("circular variable substitution found: " + " -> ".join(cycle))
        if name in self.data:
            return self.data[name] if data_as_text else f"${{{name}}}"
        if name not in self.config:
            where = f" (in {chain[0]})" if chain else ""
            raise PropertyError(f"could not find variable substitution for ${{{name}}}{where}")
        text = self.config[name]
        return REFERENCE.sub(lambda m: self._reference(m, (*chain, name), data_as_text), text)

    def _reference(self, match: re.Match[str], chain: tuple[str, ...], data_as_text: bool) -> str:
        name = match[1]
        if name not in self.config and name not in self.data and len(chain) == 1 and _COMMAND.fullmatch(chain[0]):
            return match[0]  # in a command, an unknown name is the shell's own variable (${HOME})
        return self._expand(name, chain, data_as_text)


def reference_problems(config: Mapping[str, str], declared: set[str]) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a job's config references at load time: a cycle is an error; a name that no config,
    declared param or built-in defines is a warning, since a runtime param may supply it."""
    errors: list[str] = []
    warnings: list[str] = []
    names = set(config) | declared
    for key in sorted(config):
        for name in REFERENCE.findall(config[key]):
            if name not in names and not name.startswith("azkaban.") and not _COMMAND.fullmatch(key):
                warnings.append(f"${{{name}}} in {key} is not defined by any config or declared param: it must "
                                f"be given as a param at submission")
    probe = Properties(config, {name: "" for name in declared if name not in config})
    cycles: set[frozenset[str]] = set()
    for key in sorted(config):
        try:
            probe.value(key)
        except PropertyError as exc:
            members = frozenset(str(exc).rsplit(": ", 1)[-1].split(" -> "))
            if str(exc).startswith("circular") and members not in cycles:  # one report per cycle
                cycles.add(members)
                errors.append(str(exc))
    return errors, warnings
