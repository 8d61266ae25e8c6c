"""Azkaban Flow 1.0 projects (``.job`` and ``.properties`` files) as Flow 2.0 definitions, the way Azkaban's
DirectoryFlowLoader reads them (mirrored by tests/unit/test_flow1.py on Azkaban's own test directories).

- ``.properties`` files of a directory are chained in name order (a later one overrides an earlier one), on top
  of the parent directory's chain; a ``.job`` file's properties sit on top of its directory's chain, so ``type``
  and anything else can be inherited.
- A job is named after its file; ``type`` is required, ``dependencies`` is a comma-separated list.
- Every job no other job depends on is a flow, named after it, holding its transitive dependencies (a job can be
  in several flows). ``type=flow`` with ``flow.name=F`` embeds flow F.
- A job in a subdirectory runs there (``working.dir`` is its directory unless it sets one), as Azkaban's
  ``FlowRunner.createJobRunner`` runs a job in its file's directory, so relative paths mean what they meant there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from engine.domain import javaprops

STRUCTURAL = ("type", "dependencies", "flow.name")


@dataclass
class Flow1Job:
    name: str
    source: str  # the .job file's path in the project
    properties: dict[str, str]
    dependencies: list[str] = field(default_factory=list)


@dataclass
class Converted:
    flows: dict[str, str]  # flow name -> Flow 2.0 YAML text
    sources: dict[str, str]  # flow name -> the .job file it is rooted at
    errors: list[str]
    jobs: int = 0  # .job files read
    properties_files: int = 0


def _directory(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent


def _chains(files: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Each directory's inherited properties (its .properties files in name order, over its parent's)."""
    directories = {_directory(path) for path in files} | {""}
    for directory in list(directories):  # every ancestor too
        while directory:
            directory = _directory(directory)
            directories.add(directory)
    chains: dict[str, dict[str, str]] = {}
    for directory in sorted(directories, key=lambda d: (d.count("/") + (1 if d else 0), d)):
        chain = dict(chains.get(_directory(directory), {})) if directory else {}
        for path in sorted(p for p in files if p.endswith(".properties") and _directory(p) == directory):
            chain.update(javaprops.parse(files[path]))
        chains[directory] = chain
    return chains


def _jobs(files: Mapping[str, str], errors: list[str]) -> dict[str, Flow1Job]:
    chains = _chains(files)
    jobs: dict[str, Flow1Job] = {}
    for path in sorted(p for p in files if p.endswith(".job")):
        name = PurePosixPath(path).stem
        if name in jobs:
            errors.append(f"Duplicate job names found '{name}'. ({jobs[name].source} and {path})")
            continue
        properties = {**chains[_directory(path)], **javaprops.parse(files[path])}
        if not properties.get("type", "").strip():
            errors.append(f"Job doesn't have type set '{name}'. ({path})")
            continue
        dependencies = [d.strip() for d in properties.get("dependencies", "").split(",") if d.strip()]
        jobs[name] = Flow1Job(name, path, properties, dependencies)
    for job in jobs.values():
        for dependency in job.dependencies:
            if dependency == job.name:
                errors.append(f"{job.name} has a self cycle ({job.source})")
            elif dependency not in jobs:
                errors.append(f"{job.name} cannot find dependency {dependency} ({job.source})")
    return jobs


def _cycle_errors(jobs: Mapping[str, Flow1Job]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    found: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dependency in jobs[name].dependencies:
            if dependency not in jobs or dependency == name:
                continue
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency):], dependency] if dependency in path else [name, dependency]
                found.append("Cyclical dependency found at " + " -> ".join(cycle))
            elif dependency not in state:
                visit(dependency, [*path, dependency])
        state[name] = 2

    for name in sorted(jobs):
        if name not in state:
            visit(name, [name])
    return found


def _nodes(root: str, jobs: Mapping[str, Flow1Job], embedding: tuple[str, ...]) -> list[dict[str, Any]]:
    """The Flow 2.0 nodes of the flow rooted at ``root``; raises ValueError on an embedding cycle."""
    members: list[str] = []
    pending = [root]
    while pending:
        name = pending.pop()
        if name in members or name not in jobs:
            continue
        members.append(name)
        pending += [d for d in jobs[name].dependencies if d != name]
    nodes = []
    for name in sorted(members):
        job = jobs[name]
        node: dict[str, Any] = {"name": name, "type": job.properties["type"].strip()}
        config = {k: v for k, v in job.properties.items() if k not in (*STRUCTURAL, "condition")}
        if _directory(job.source):
            config.setdefault("working.dir", _directory(job.source))
        if node["type"] == "flow":
            inner = job.properties.get("flow.name", "").strip()
            if inner not in jobs:
                raise ValueError(f"{name} embeds flow {inner or '(no flow.name)'}, which does not exist "
                                 f"({job.source})")
            if inner in embedding:
                raise ValueError("embedded flows loop: " + " -> ".join((*embedding, inner)))
            node["nodes"] = _nodes(inner, jobs, (*embedding, inner))
        elif config:
            node["config"] = config
        if job.dependencies:
            node["dependsOn"] = [d for d in job.dependencies if d != name]
        if job.properties.get("condition", "").strip():
            node["condition"] = job.properties["condition"].strip()
        nodes.append(node)
    return nodes


def convert(files: Mapping[str, str]) -> Converted:
    """Flow 2.0 definitions for the Flow 1.0 project whose ``.job`` and ``.properties`` texts are ``files``
    (relative path -> text), with every error found."""
    errors: list[str] = []
    jobs = _jobs(files, errors)
    errors += _cycle_errors(jobs)
    depended_on = {d for job in jobs.values() for d in job.dependencies}
    flows: dict[str, str] = {}
    sources: dict[str, str] = {}
    counts = {"jobs": len(jobs), "properties_files": sum(1 for p in files if p.endswith(".properties"))}
    if errors:
        return Converted(flows, sources, errors, **counts)
    for name in sorted(jobs):
        if name in depended_on:
            continue
        try:
            nodes = _nodes(name, jobs, (name,))
        except ValueError as exc:
            errors.append(str(exc))
            continue
        header = f"# converted from Azkaban Flow 1.0: the flow of {jobs[name].source}\n"
        flows[name] = header + yaml.safe_dump({"name": name, "nodes": nodes}, sort_keys=False, allow_unicode=True)
        sources[name] = jobs[name].source
    return Converted(flows, sources, errors, **counts)
