"""A flow's DAG laid out in layers, left to right, for drawing: each job's layer is one more than its deepest
dependency's, and jobs within a layer are ordered by where their dependencies sit (one barycentre sweep, ties in
declaration order), which keeps most edges short and uncrossed without a costly crossing minimisation.

Embedded flows were expanded by the loader into jobs named ``parent/child``; ``group`` is that prefix, so a view
can fold an embedded flow into one node."""

from __future__ import annotations

from typing import Any

from engine.domain.spec import FlowSpec


def layer_of(spec: FlowSpec) -> dict[str, int]:
    """Layer of each job: 0 for a root, else one more than its deepest dependency (Kahn's order, no recursion, so a
    thousand-job chain is as cheap as a wide flow). Dependencies on unknown jobs are ignored, as the engine's
    ``children`` ignores them."""
    known = spec.by_name
    waiting = {job.name: sum(1 for parent in job.depends_on if parent in known) for job in spec.jobs}
    layer = dict.fromkeys(waiting, 0)
    ready = [name for name, count in waiting.items() if count == 0]
    while ready:
        name = ready.pop()
        for child in spec.children[name]:
            layer[child] = max(layer[child], layer[name] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return layer


def group_of(name: str) -> str | None:
    """The embedded flow a job belongs to (``a/b/c`` is in ``a/b``), or None for a job of the flow itself."""
    parent, slash, _ = name.rpartition("/")
    return parent if slash else None


def layout(spec: FlowSpec) -> dict[str, Any]:
    """The flow as nodes with (layer, row), edges with the condition of the job they lead into, and ``order``: the
    jobs as a reader follows the flow (by layer, then row), which is how every listing of its jobs is sorted."""
    layer = layer_of(spec)
    declared = {job.name: index for index, job in enumerate(spec.jobs)}
    by_layer: dict[int, list[str]] = {}
    for job in spec.jobs:
        by_layer.setdefault(layer[job.name], []).append(job.name)
    row: dict[str, float] = {}
    for depth in sorted(by_layer):
        def centre(name: str) -> tuple[float, int]:
            parents = [row[p] for p in spec.by_name[name].depends_on if p in row]
            return (sum(parents) / len(parents) if parents else float(declared[name]), declared[name])

        for index, name in enumerate(sorted(by_layer[depth], key=centre)):
            row[name] = index
    nodes = [{"name": job.name, "type": job.type, "pool": job.pool, "layer": layer[job.name],
              "row": int(row[job.name]), "group": group_of(job.name), "condition": job.condition,
              "depends_on": list(job.depends_on)} for job in spec.jobs]
    edges = [{"from": parent, "to": job.name, "condition": job.condition}
             for job in spec.jobs for parent in job.depends_on if parent in spec.by_name]
    params = [{"name": name, "default": default, "required": default is None}
              for name, default in sorted(spec.params.items())]
    groups = sorted({g for g in (group_of(job.name) for job in spec.jobs) if g is not None})
    order = [n["name"] for n in sorted(nodes, key=lambda n: (n["layer"], n["row"]))]
    return {"flow": spec.name, "version": spec.version_hash(), "failure_policy": spec.failure_policy.value,
            "params": params, "nodes": nodes, "edges": edges, "groups": groups, "order": order,
            "layers": max(layer.values(), default=-1) + 1}
