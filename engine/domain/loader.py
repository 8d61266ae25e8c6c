"""YAML flow files -> FlowSpec.

Reads Azkaban Flow 2.0 files unchanged (``config``, ``nodes`` with ``name``, ``type``, ``config``,
``dependsOn``, ``condition``; ``type: flow`` embedded flows; ``retries`` and ``retry.backoff`` in a job's config)
plus Kafkaban's own keys (``retry``, ``timeout``, ``lease``, ``pool``, ``resources``, flow ``params`` and
``failure_policy``). Embedded flows are expanded here: their jobs are named ``parent/child``, the embedded flow's
dependencies move to its first jobs, and depending on it means depending on its last jobs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.domain import units
from engine.domain.problems import FlowInvalid, Problem
from engine.domain.spec import (
    DEFAULT_LEASE_MS,
    DEFAULT_MAX_LOST,
    DEFAULT_POOL,
    FailurePolicy,
    FlowSpec,
    JobSpec,
    RetryPolicy,
)
from engine.domain.triggers import parse_trigger
from engine.domain.validation import MAX_NESTING_DEPTH, check_name, validate, warnings

# "type" and "trigger" as Azkaban's NodeBean takes them: a root type is overwritten with "flow" there, and is
# ignored here; a trigger is validated (engine/domain/triggers.py) and kept in the definition's text
FLOW_KEYS = {"name", "description", "config", "nodes", "params", "failure_policy", "pool", "type", "trigger"}
NODE_KEYS = {"name", "type", "config", "dependsOn", "condition", "nodes", "retry", "timeout", "lease", "pool",
             "resources"}
RETRY_KEYS = {"max_attempts", "backoff", "max_backoff", "jitter", "max_lost"}
RESOURCE_KEYS = {"cpu", "memory"}
_HINTS = {"depends_on": "dependsOn", "dependson": "dependsOn", "depends": "dependsOn", "retries": "retry",
          "failurePolicy": "failure_policy", "parameters": "params", "timeout_ms": "timeout"}
_REF = re.compile(r"\$\{([^:}]+):")


@dataclass
class _Job:
    name: str
    raw: Mapping[str, Any]
    config: dict[str, str]
    depends_on: list[str] = field(default_factory=list)
    condition: str | None = None


# deeper than any flow needs (embedded flows nest at most 8 deep, two YAML levels each): PyYAML builds documents
# recursively, so a hostile file nested thousands deep would otherwise end in a RecursionError
MAX_YAML_DEPTH = 64
_OPENS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
          yaml.FlowSequenceStartToken)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _too_deep(text: str) -> int | None:
    """The line at which the YAML nests deeper than MAX_YAML_DEPTH (the scanner is not recursive), else None."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENS):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return token.start_mark.line + 1
            elif isinstance(token, _CLOSES):
                depth -= 1
    except yaml.YAMLError:
        return None  # malformed: the parser below says where and why
    return None


# YAML aliases let a tiny file stand for a huge document (451 bytes of "billion laughs" are 10^9 nodes): a flow
# is refused by the size it expands to, counted on the composed node graph, where an alias is a shared node
MAX_EXPANDED_NODES = 200_000


def expanded_nodes(root: yaml.Node | None) -> int:
    """How many nodes the document has once every alias is expanded, computed without expanding: each node is
    counted once, after its children (iterative post-order, memoized per node, capped past MAX_EXPANDED_NODES).
    An alias of an enclosing node (a cycle) expands without end: it counts as past the limit."""
    if root is None:
        return 0
    past = MAX_EXPANDED_NODES + 1
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # expanding now: the node's entries above its "done" mark are its descendants
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = min(1 + sum(sizes[id(child)] for child in _children(node)), past)
        elif key in open_nodes:
            return past
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_flow(text: str, default_name: str = "flow") -> tuple[FlowSpec | None, list[Problem]]:
    """Parse and validate; returns the spec (None if it could not be built) and every problem found."""
    line = _too_deep(text)
    if line is not None:
        return None, [Problem(None, f"nested more than {MAX_YAML_DEPTH} levels deep (at line {line})")]
    try:
        size = expanded_nodes(yaml.compose(text, Loader=yaml.SafeLoader))
        if size > MAX_EXPANDED_NODES:
            return None, [Problem(None, f"expands to more than {MAX_EXPANDED_NODES:,} YAML nodes (through "
                                        f"aliases); a flow is refused by its expanded size")]
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(None, f"not valid YAML{where}: {reason}")]
    if not isinstance(doc, dict):
        return None, [Problem(None, "a flow file must be a mapping with a 'nodes' list")]
    problems: list[Problem] = []
    _unknown_keys(doc, FLOW_KEYS, None, problems, "flow")
    name = doc.get("name", default_name)
    if "nodes" not in doc:
        problems.append(Problem(None, "the flow has no 'nodes'"))
    if "trigger" in doc:
        problems += [Problem(None, f"trigger: {problem}") for problem in parse_trigger(doc["trigger"])[1]]
    flow_config = _config(doc.get("config"), None, problems)
    jobs, _ = _expand(doc.get("nodes") or [], "", flow_config, 1, problems)
    policy = FailurePolicy.FINISH_CURRENT
    if "failure_policy" in doc:
        try:
            policy = FailurePolicy(doc["failure_policy"])
        except ValueError:
            choices = ", ".join(p.value for p in FailurePolicy)
            problems.append(Problem(None, f"failure_policy {doc['failure_policy']!r} is not one of {choices}"))
    default_pool = doc.get("pool", DEFAULT_POOL)
    spec = FlowSpec(
        name=str(name),
        jobs=tuple(_job_spec(job, default_pool, problems) for job in jobs),
        failure_policy=policy,
        params=_params(doc.get("params"), problems),
    )
    problems += validate(spec)
    return spec, _unique(problems)


def flow_warnings(spec: FlowSpec) -> list[Problem]:
    """What a valid flow may still trip on at run time (engine/domain/validation.py's warnings)."""
    return warnings(spec)


def load_flow(text: str, default_name: str = "flow") -> FlowSpec:
    """Parse and validate; raises FlowInvalid listing every problem."""
    spec, problems = check_flow(text, default_name)
    if problems or spec is None:
        raise FlowInvalid(problems)
    return spec


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _unknown_keys(raw: Mapping[str, Any], known: set[str], node: str | None, problems: list[Problem],
                  what: str) -> None:
    for key in raw:
        if key not in known:
            hint = f" (did you mean {_HINTS[key]!r}?)" if key in _HINTS else ""
            problems.append(Problem(node, f"unknown {what} key {key!r}{hint}"))


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _config(raw: Any, node: str | None, problems: list[Problem]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(node, "config must be a mapping"))
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        text = _scalar_text(value)
        if text is None:
            problems.append(Problem(node, f"config {key!r} must be a single value, not {type(value).__name__}"))
        else:
            out[str(key)] = text
    return out


def _params(raw: Any, problems: list[Problem]) -> dict[str, str | None]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(None, "params must be a mapping of name to default (null: required)"))
        return {}
    out: dict[str, str | None] = {}
    for key, value in raw.items():
        if error := check_name(key, "param name"):
            problems.append(Problem(None, error))
        text = None if value is None else _scalar_text(value)
        if value is not None and text is None:
            problems.append(Problem(None, f"param {key!r} default must be a single value"))
        out[str(key)] = text
    return out


def _expand(nodes: Any, prefix: str, inherited: dict[str, str], depth: int,
            problems: list[Problem]) -> tuple[list[_Job], dict[str, list[str]]]:
    """Jobs of one level (embedded flows expanded) and, per local name, the job names that stand for it."""
    if depth > MAX_NESTING_DEPTH:
        problems.append(Problem(prefix.rstrip("/") or None,
                                f"embedded flows nest deeper than {MAX_NESTING_DEPTH} levels"))
        return [], {}
    if not isinstance(nodes, list):
        problems.append(Problem(prefix.rstrip("/") or None, "nodes must be a list"))
        return [], {}
    jobs: list[_Job] = []
    exits: dict[str, list[str]] = {}
    entries: dict[str, tuple[Mapping[str, Any], list[_Job]]] = {}  # local name -> (node, its first jobs)
    for raw in nodes:
        if not isinstance(raw, dict):
            problems.append(Problem(prefix.rstrip("/") or None, f"every node must be a mapping, got {raw!r}"))
            continue
        local = raw.get("name")
        if error := check_name(local, "node name"):
            problems.append(Problem(prefix + str(local) if local else None, error))
            continue
        qualified = prefix + local
        if local in entries:
            problems.append(Problem(qualified, "duplicate node name"))
            continue
        _unknown_keys(raw, NODE_KEYS, qualified, problems, "node")
        config = {**inherited, **_config(raw.get("config"), qualified, problems)}
        if raw.get("type") == "flow":
            inner, _ = _expand(raw.get("nodes") or [], qualified + "/", config, depth + 1, problems)
            if not raw.get("nodes"):
                problems.append(Problem(qualified, "an embedded flow needs 'nodes'"))
            inner_names = {job.name for job in inner}
            depended = {dep for job in inner for dep in job.depends_on}
            firsts = [job for job in inner if not any(dep in inner_names for dep in job.depends_on)]
            exits[local] = [job.name for job in inner if job.name not in depended]
            for job in firsts:
                if job.condition is None:
                    job.condition = _qualify_refs(raw.get("condition"), prefix, exits)
            jobs += inner
            entries[local] = (raw, firsts)
        else:
            if "nodes" in raw:
                problems.append(Problem(qualified, "only a node of type 'flow' may have 'nodes'"))
            job = _Job(name=qualified, raw=raw, config=config)
            jobs.append(job)
            exits[local] = [qualified]
            entries[local] = (raw, [job])
    for local, (raw, firsts) in entries.items():
        deps = raw.get("dependsOn") or []
        if isinstance(deps, str):
            deps = [deps]
        if not isinstance(deps, list):
            problems.append(Problem(prefix + local, "dependsOn must be a list of node names"))
            continue
        resolved: list[str] = []
        for dep in deps:
            # an unknown name is kept as it is, so validation reports it against this job
            resolved += exits.get(str(dep), [prefix + str(dep)])
        for job in firsts:
            job.depends_on = [*resolved, *job.depends_on]
            if raw.get("type") != "flow":
                job.condition = _qualify_refs(raw.get("condition"), prefix, exits)
    return jobs, exits


def _qualify_refs(condition: Any, prefix: str, exits: Mapping[str, list[str]]) -> str | None:
    """Rewrite ${job:param} of a nested level to the qualified job name."""
    if condition is None:
        return None
    text = str(condition)
    if not prefix:
        return text
    return _REF.sub(lambda m: "${" + (prefix + m[1].strip() if m[1].strip() in exits else m[1].strip()) + ":", text)


def _job_spec(job: _Job, default_pool: str, problems: list[Problem]) -> JobSpec:
    raw = job.raw
    config = job.config
    node_problems: list[str] = []

    def read(what: str, parse: Any, value: Any, fallback: Any) -> Any:
        try:
            return parse(value)
        except (TypeError, ValueError) as exc:
            node_problems.append(f"{what}: {exc}")
            return fallback

    max_attempts, base, cap, jitter, max_lost = 1, 0, 0, 0.0, DEFAULT_MAX_LOST
    if "retries" in config:  # Azkaban: retries (count) and retry.backoff (milliseconds, constant)
        max_attempts = read("config retries", lambda v: int(v) + 1, config["retries"], 1)
        base = cap = read("config retry.backoff", lambda v: units.duration_ms(int(v), default_unit="ms"),
                          config.get("retry.backoff", "0"), 0)
    retry = raw.get("retry")
    if retry is not None:
        if not isinstance(retry, dict):
            node_problems.append("retry must be a mapping (max_attempts, backoff, max_backoff, jitter, max_lost)")
        else:
            _unknown_keys(retry, RETRY_KEYS, job.name, problems, "retry")
            max_attempts = read("retry max_attempts", _int, retry.get("max_attempts", max_attempts), 1)
            base = read("retry backoff", units.duration_ms, retry.get("backoff", f"{base}ms"), 0)
            # as Temporal: without a cap, the delay may grow to 100 times the first one
            cap = read("retry max_backoff", units.duration_ms, retry.get("max_backoff", f"{base * 100}ms"), 0)
            jitter = read("retry jitter", float, retry.get("jitter", jitter), 0.0)
            max_lost = read("retry max_lost", _int, retry.get("max_lost", max_lost), DEFAULT_MAX_LOST)
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict):
        node_problems.append("resources must be a mapping (cpu, memory)")
        resources = {}
    _unknown_keys(resources, RESOURCE_KEYS, job.name, problems, "resources")
    spec = JobSpec(
        name=job.name,
        type=str(raw.get("type", "")),
        config=config,
        depends_on=tuple(job.depends_on),
        condition=job.condition,
        retry=RetryPolicy(max_attempts, base, max(cap, base), jitter, max_lost),
        timeout_ms=read("timeout", units.duration_ms, raw["timeout"], None) if "timeout" in raw else None,
        lease_ms=read("lease", units.duration_ms, raw.get("lease", f"{DEFAULT_LEASE_MS}ms"), DEFAULT_LEASE_MS),
        pool=str(raw.get("pool", default_pool)),
        cpu=read("resources cpu", _float, resources.get("cpu", 0), 0.0),
        memory_mb=read("resources memory", units.memory_mib, resources.get("memory", 0), 0),
    )
    if not raw.get("type"):
        node_problems.append("a node needs a type")
    problems += [Problem(job.name, message) for message in node_problems]
    return spec


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    return float(value)
