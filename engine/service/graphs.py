"""A flow's DAG laid out for drawing (engine.domain.layers): of a registered flow's version, of a project's flow in
an upload, or of the definition an execution snapshotted. Each is read under the permission its source needs."""

from __future__ import annotations

from typing import Any

from engine.access.permissions import DEFAULT_PROJECT, Permission, Principal
from engine.domain import events as ev
from engine.domain.layers import layout
from engine.domain.loader import check_flow
from engine.service.context import Context
from engine.service.errors import ServiceError
from engine.service.executions import Executions
from projections import queries


def _laid_out(source: str, name: str) -> dict[str, Any]:
    spec, problems = check_flow(source, name)
    if problems or spec is None:
        raise ServiceError(409, "the stored definition no longer validates", [p.to_dict() for p in problems])
    return layout(spec)


def of_flow(ctx: Context, principal: Principal, name: str, version: str | None) -> dict[str, Any]:
    row = None
    if ctx.access.may(principal, Permission.READ, DEFAULT_PROJECT):
        with ctx.db() as conn:
            row = queries.flow_source(conn, name, version)
    if row is None:
        what = f"flow {name[:100]!r}" + (f" version {version[:80]}" if version else "")
        raise ServiceError(404, f"{what} is not registered")
    return {**_laid_out(row["source"], name), "version": row["version"]}


def of_project_flow(ctx: Context, principal: Principal, project: str, flow: str,
                    archive: str | None) -> dict[str, Any]:
    found = None
    if ctx.access.may(principal, Permission.READ, project):
        with ctx.db() as conn:
            found = queries.project_flow(conn, project, flow, archive)
    if found is None:
        raise ServiceError(404, f"project {project[:100]!r} has no flow {flow[:100]!r}"
                                + (f" in archive {archive[:80]}" if archive else ""))
    return {**_laid_out(found["source"], flow), "project": project, "archive": found["archive"]}


def of_execution(executions: Executions, principal: Principal, execution_id: str) -> dict[str, Any]:
    """The definition the execution runs (its submission's snapshot, not the flow's latest version)."""
    found = executions.readable(principal, execution_id)
    with executions.ctx.db() as conn:
        row = queries.submission_row(conn, execution_id)
    if row is None:
        raise ServiceError(404, f"execution {execution_id} has no submission in the views")
    submitted = queries.event_from_row(row).payload
    assert isinstance(submitted, ev.ExecutionSubmitted)
    return {**layout(submitted.definition), "execution_id": execution_id, "project": found.get("project")}
