"""Job types a worker runs beyond the built-in ones, as plugins: resolved when a job runs, as Azkaban's
JobTypeManager does.

- A directory of Azkaban-style jobtype definitions (``KAFKABAN_JOBTYPES_DIR``, or ``kafkaban worker --jobtypes``):
  ``<type>/plugin.properties`` names a command template (``command``, and ``command.N``/``env.*`` if wanted),
  written like any job config. A job of that type runs as a command job whose properties are the plugin's with
  the job's own config on top (plugin properties only fill in what the job leaves out, as Azkaban's do).
- Python entry points in the group ``kafkaban.jobtypes``: the name is the type, the object a callable taking the
  job's resolved properties (a mapping of text) and returning the argv to run, without a shell.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from engine.domain import javaprops
from engine.domain.spec import JOB_TYPES as BUILT_IN

log = logging.getLogger("kafkaban.worker")
ENTRY_POINT_GROUP = "kafkaban.jobtypes"
ArgvPlugin = Callable[[Mapping[str, str]], list[str]]


class JobTypeError(ValueError):
    """A plugin that cannot be loaded."""


@dataclass(frozen=True)
class JobTypes:
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # type -> plugin.properties
    callables: Mapping[str, ArgvPlugin] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted({*BUILT_IN, *self.templates, *self.callables})

    def supports(self, kind: str) -> bool:
        return kind in BUILT_IN or kind in self.templates or kind in self.callables


def load_directory(directory: Path) -> dict[str, dict[str, str]]:
    """Each ``<type>/plugin.properties`` of ``directory``; a type without a command is refused."""
    if not directory.is_dir():
        raise JobTypeError(f"job type directory {directory} does not exist")
    found: dict[str, dict[str, str]] = {}
    for plugin in sorted(directory.glob("*/plugin.properties")):
        kind = plugin.parent.name
        if kind in BUILT_IN:
            raise JobTypeError(f"{plugin}: {kind!r} is a built-in job type and cannot be replaced")
        properties = javaprops.parse(plugin.read_text(encoding="utf-8"))
        if not properties.get("command", "").strip():
            raise JobTypeError(f"{plugin}: a job type plugin needs a command template (command=...)")
        found[kind] = properties
    return found


def load(directory: Path | None = None) -> JobTypes:
    """The plugins of ``directory`` (default: KAFKABAN_JOBTYPES_DIR, if set) and of the entry points."""
    if directory is None and os.environ.get("KAFKABAN_JOBTYPES_DIR"):
        directory = Path(os.environ["KAFKABAN_JOBTYPES_DIR"])
    templates = load_directory(directory) if directory is not None else {}
    callables: dict[str, ArgvPlugin] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILT_IN or entry.name in templates:
            raise JobTypeError(f"job type {entry.name!r} of entry point {entry.value} is defined twice")
        callables[entry.name] = entry.load()
    if templates or callables:
        log.info("job type plugins: %s", ", ".join(sorted({*templates, *callables})))
    return JobTypes(templates, callables)
