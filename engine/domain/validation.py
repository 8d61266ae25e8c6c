"""Checks of a resolved flow: the graph, job types, conditions and limits. Reports every problem found."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from engine.domain import conditions
from engine.domain.problems import Problem
from engine.domain.properties import reference_problems, runs_code
from engine.domain.spec import JOB_TYPES, FlowSpec, JobSpec

MAX_JOBS = 10_000
MAX_NAME_LENGTH = 100
MAX_QUALIFIED_NAME_LENGTH = 255
MAX_NESTING_DEPTH = 8
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
PYTHON_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def check_name(name: object, what: str = "name") -> str | None:
    """Why ``name`` is not a usable local name, or None."""
    if not isinstance(name, str) or not name:
        return f"{what} must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    if not NAME_PATTERN.match(name):
        return f"{what} {name!r} may hold only letters, digits, '_', '.' and '-' (and not start with '.' or '-')"
    return None


def validate(spec: FlowSpec) -> list[Problem]:
    """Every problem of a resolved flow; an empty list means it can run."""
    problems: list[Problem] = []
    if error := check_name(spec.name, "flow name"):
        problems.append(Problem(None, error))
    if not spec.jobs:
        problems.append(Problem(None, "the flow has no jobs"))
    if len(spec.jobs) > MAX_JOBS:
        problems.append(Problem(None, f"the flow has {len(spec.jobs)} jobs; at most {MAX_JOBS} are allowed"))
    seen: set[str] = set()
    for job in spec.jobs:
        if job.name in seen:
            problems.append(Problem(job.name, "duplicate job name"))
        seen.add(job.name)
    for job in spec.jobs:
        problems += _job_problems(job, spec)
    problems += cycle_problems({job.name: job.depends_on for job in spec.jobs})
    return problems


def _job_problems(job: JobSpec, spec: FlowSpec) -> list[Problem]:
    out: list[str] = []
    if len(job.name) > MAX_QUALIFIED_NAME_LENGTH:
        out.append(f"name is longer than {MAX_QUALIFIED_NAME_LENGTH} characters")
    for part in job.name.split("/"):
        if error := check_name(part, "job name"):
            out.append(error)
            break
    if not isinstance(job.type, str) or not job.type.strip():
        out.append("a job needs a type")
    if job.type == "command" and not str(job.config.get("command", "")).strip():
        out.append("a command job needs config.command")
    if job.type == "python" and not PYTHON_FUNCTION.match(str(job.config.get("function", ""))):
        out.append("a python job needs config.function as 'package.module:function'")
    for dep in job.depends_on:
        if dep not in spec.by_name:
            out.append(f"unknown dependency {dep!r}")
        elif dep == job.name:
            out.append("depends on itself")
    if len(set(job.depends_on)) != len(job.depends_on):
        out.append("lists a dependency twice")
    retry = job.retry
    if retry.max_attempts < 1:
        out.append("retry max_attempts must be at least 1")
    if retry.backoff_base_ms < 0 or retry.backoff_max_ms < 0:
        out.append("retry backoff must not be negative")
    if not 0.0 <= retry.jitter <= 1.0:
        out.append("retry jitter must be between 0 and 1")
    if retry.max_lost < 0:
        out.append("retry max_lost must not be negative")
    if job.timeout_ms is not None and job.timeout_ms <= 0:
        out.append("timeout must be positive")
    if job.lease_ms < 1000:
        out.append("lease must be at least 1s")
    if error := check_name(job.pool, "pool"):
        out.append(error)
    if job.cpu < 0 or job.memory_mb < 0:
        out.append("resources must not be negative")
    if job.condition is not None:
        out += _condition_problems(job, spec)
    out += reference_problems(job.config, set(spec.params))[0]
    return [Problem(job.name, message) for message in out]


def param_problems(spec: FlowSpec, params: Mapping[str, str]) -> list[str]:
    """What is wrong with the params of a submission: required ones missing, and names of the properties that say
    what a job runs (a runtime param overrides config, but never those)."""
    problems = []
    missing = sorted(name for name, default in spec.params.items() if default is None and name not in params)
    if missing:
        problems.append("missing required params: " + ", ".join(missing))
    code = sorted(name for name in params if runs_code(name))
    if code:
        problems.append(f"params {', '.join(code)} would change what a job runs: command, command.N, env.*, "
                        f"working.dir and type come from the flow's config only")
    return problems


def warnings(spec: FlowSpec) -> list[Problem]:
    """What may still work, said before it runs: job types this release does not run itself (a worker plugin may),
    and references no config or declared param defines (a runtime param may)."""
    out: list[Problem] = []
    for job in spec.jobs:
        if job.type not in JOB_TYPES:
            out.append(Problem(job.name, f"job type {job.type!r} is not built in (built in: "
                                         f"{', '.join((*JOB_TYPES, 'flow'))}): it runs only on a worker with a "
                                         f"plugin for it"))
        out += [Problem(job.name, message) for message in reference_problems(job.config, set(spec.params))[1]]
    return list(dict.fromkeys(out))


def _condition_problems(job: JobSpec, spec: FlowSpec) -> list[str]:
    try:
        tree = conditions.parse(job.condition or "")
    except conditions.ConditionError as exc:
        shown = job.condition or ""
        shown = shown if len(shown) <= 80 else shown[:80] + "..."  # a hostile one may be megabytes long
        return [f"bad condition {shown!r}: {exc}"]
    out: list[str] = []
    if len(set(conditions.macros(tree))) > 1:
        out.append("a condition may use one macro only")
    ancestors = _ancestors(job.name, spec)
    for ref in conditions.refs(tree):
        if ref.job not in spec.by_name:
            out.append(f"condition refers to unknown job {ref.job!r}")
        elif ref.job not in ancestors:
            out.append(f"condition refers to {ref.job!r}, which is not upstream of this job")
    return out


def _ancestors(name: str, spec: FlowSpec) -> set[str]:
    seen: set[str] = set()
    stack = list(spec.by_name[name].depends_on) if name in spec.by_name else []
    while stack:
        current = stack.pop()
        if current in seen or current not in spec.by_name:
            continue
        seen.add(current)
        stack.extend(spec.by_name[current].depends_on)
    return seen


def cycle_problems(graph: Mapping[str, Iterable[str]]) -> list[Problem]:
    """One problem per cycle (strongly connected component), listing its nodes in cycle order."""
    problems: list[Problem] = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        path = [min(component)]
        while True:  # follow edges inside the component until a node repeats: that is a cycle
            nxt = min(d for d in graph[path[-1]] if d in members)
            if nxt in path:
                cycle = [*path[path.index(nxt):], nxt]
                break
            path.append(nxt)
        problems.append(Problem(cycle[0], "dependency cycle: " + " -> ".join(cycle)))
    return problems


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion (flows may hold 10,000 jobs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, [d for d in graph[start] if d in graph])]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, [d for d in graph[nxt] if d in graph]))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out
