"""Executions: submit a registered or inline flow, cancel, read one (now or as it stood), its events and logs.

The identity in every record is the caller's principal, never a field of the request."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from engine.access.permissions import DEFAULT_PROJECT, Permission, Principal
from engine.clock import now_ms
from engine.codec import encode_event
from engine.codec.json_state import state_to_json
from engine.domain import events as ev
from engine.domain.evolve import fold
from engine.domain.ids import execution_id_for_key
from engine.domain.spec import FlowSpec
from engine.domain.state import EXECUTION_TERMINAL
from engine.domain.validation import param_problems
from engine.kafka import MAX_RECORD_BYTES, RECORD_OVERHEAD_BYTES, fits_in_a_record
from engine.service.context import Context
from engine.service.errors import ServiceError
from engine.service.flows import MAX_FLOW_BYTES, check_flow_async
from projections import queries
from projections.queries import event_from_row

MAX_PARAMS = 1000
MAX_PARAM_NAME = 255
MAX_PARAM_VALUE = 64 * 1024
MAX_ID_LENGTH = 255


@dataclass
class Submission:
    flow: str | None = None
    version: str | None = None
    definition: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


def check_params(params: dict[str, str]) -> None:
    if len(params) > MAX_PARAMS:
        raise ServiceError(413, f"{len(params):,} params; at most {MAX_PARAMS:,} are accepted")
    for name, value in params.items():
        if len(name) > MAX_PARAM_NAME:
            raise ServiceError(413, f"a param name is at most {MAX_PARAM_NAME} characters: {name[:40]!r}...")
        if len(value) > MAX_PARAM_VALUE:
            raise ServiceError(413, f"param {name[:40]!r} is {len(value):,} characters; at most "
                                    f"{MAX_PARAM_VALUE:,}")


def check_id(what: str, value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise ServiceError(400, f"{what} is at most {MAX_ID_LENGTH} characters")
    return value


class Executions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- submit -------------------------------------------------------------------------------------------------

    async def submit(self, principal: Principal, request: Submission) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer): 202 with where the submission was written, or 200 for an idempotency key seen."""
        check_params(request.params)
        self.ctx.access.take_submission(principal)
        spec, project, archive = await self._resolve(principal, request)
        problems = param_problems(spec, request.params)
        if problems:
            raise ServiceError(422, "; ".join(problems))
        if request.idempotency_key:
            execution_id = execution_id_for_key(spec.name, request.idempotency_key, project)
            existing = await asyncio.to_thread(self._execution, execution_id)
            if existing is not None:
                return 200, {"execution_id": execution_id, "status": existing["status"], "duplicate": True}
        else:
            execution_id = str(uuid.uuid4())
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "api", ev.ExecutionSubmitted(
            flow_name=spec.name, definition_hash=spec.version_hash(), definition=spec, params=request.params,
            submitter=principal.name, idempotency_key=request.idempotency_key, project=project, archive=archive))
        value = encode_event(event, self.ctx.settings.schema_registry_url)
        if not fits_in_a_record(value):
            raise ServiceError(413, f"the submission encodes to {len(value):,} bytes (definition and params); at "
                                    f"most {MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES:,} fit in one Kafka record")
        topic = self.ctx.settings.executions_topic
        partition, offset = await asyncio.to_thread(self.ctx.produce, topic, execution_id, value)
        projected = await self.ctx.wait_projected(topic, partition, offset)
        return 202, {"execution_id": execution_id, "status": "SUBMITTED", "flow": spec.name,
                     "version": spec.version_hash(), "submitter": principal.name, "partition": partition,
                     "offset": offset, "projected": projected}

    def _execution(self, execution_id: str) -> dict[str, Any] | None:
        with self.ctx.db() as conn:
            return queries.get_execution(conn, execution_id)

    async def _resolve(self, principal: Principal, request: Submission) -> tuple[FlowSpec, str | None, str | None]:
        """The flow to run, and the project and archive it comes from (a PROJECT/FLOW name; ``version`` is then
        an archive's sha256, default the latest upload). Running code never registered is RUN_INLINE's."""
        access = self.ctx.access
        if request.definition is not None:
            access.require_role(principal, Permission.RUN_INLINE)
            if len(request.definition.encode()) > MAX_FLOW_BYTES:
                raise ServiceError(413, f"inline definition is larger than {MAX_FLOW_BYTES} bytes")
            spec, problems = await check_flow_async(request.definition, default_name=request.flow or "inline")
            if problems or spec is None:
                raise ServiceError(422, "invalid flow definition", [p.to_dict() for p in problems])
            return spec, None, None
        if not request.flow:
            raise ServiceError(400, "give a flow name (flow) or an inline definition (definition)")
        if "/" in request.flow:
            project, flow = request.flow.split("/", 1)
            await asyncio.to_thread(access.require, principal, Permission.EXECUTE, project)
            with self.ctx.db() as conn:
                found = queries.project_flow(conn, project, flow, request.version)
            if found is None:
                where = f"project {project!r}" + (f" archive {request.version}" if request.version else "")
                raise ServiceError(404, f"{where} has no flow {flow!r}")
            spec, problems = await check_flow_async(found["source"], default_name=flow)
            if problems or spec is None:
                raise ServiceError(409, "the project's definition no longer validates",
                                   [p.to_dict() for p in problems])
            return spec, project, found["archive"]
        await asyncio.to_thread(access.require, principal, Permission.EXECUTE, DEFAULT_PROJECT)
        with self.ctx.db() as conn:
            row = queries.flow_source(conn, request.flow, request.version)
        if row is None:
            what = f"flow {request.flow!r}" + (f" version {request.version}" if request.version else "")
            raise ServiceError(404, f"{what} is not registered")
        spec, problems = await check_flow_async(row["source"], default_name=request.flow)
        if problems or spec is None:
            raise ServiceError(409, "the registered definition no longer validates", [p.to_dict() for p in problems])
        return spec, None, None

    # -- cancel -------------------------------------------------------------------------------------------------

    async def cancel(self, principal: Principal, execution_id: str, reason: str | None) -> dict[str, Any]:
        found = await asyncio.to_thread(self.readable, principal, execution_id, Permission.EXECUTE)
        if found["status"] in EXECUTION_TERMINAL:
            raise ServiceError(409, f"execution {execution_id} already ended: {found['status']}")
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "api",
                         ev.CancelRequested(principal.name, reason))
        partition, offset = await asyncio.to_thread(
            self.ctx.produce, self.ctx.settings.executions_topic, execution_id,
            encode_event(event, self.ctx.settings.schema_registry_url))
        return {"execution_id": execution_id, "status": "CANCEL_REQUESTED", "requested_by": principal.name,
                "partition": partition, "offset": offset}

    # -- reads --------------------------------------------------------------------------------------------------

    def readable(self, principal: Principal, execution_id: str,
                 permission: Permission = Permission.READ) -> dict[str, Any]:
        """The execution, if ``principal`` may act on it with ``permission``; one that it may not even read is a
        404, as one that does not exist (its id tells nothing)."""
        check_id("an execution id", execution_id)
        found = self._execution(execution_id)
        access = self.ctx.access
        if found is None or not access.may(principal, Permission.READ, found.get("project")):
            raise ServiceError(404, f"execution {execution_id} not found")
        if permission is not Permission.READ:
            access.require(principal, permission, found.get("project"))
        return found

    def list(self, principal: Principal, **filters: Any) -> dict[str, Any]:
        """A page of executions, and (on the first page) how many of each status the filters match."""
        projects = self.ctx.access.readable_projects(principal)
        with self.ctx.db() as conn:
            try:
                rows, next_cursor = queries.list_executions(conn, projects=projects, **filters)
            except ValueError as exc:
                raise ServiceError(400, str(exc)) from exc
            counted = {k: v for k, v in filters.items() if k not in ("status", "cursor", "limit")}
            counts = None if filters.get("cursor") else queries.execution_counts(conn, projects=projects, **counted)
        return {"executions": rows, "next_cursor": next_cursor, "counts": counts}

    def events(self, principal: Principal, execution_id: str) -> list[dict[str, Any]]:
        self.readable(principal, execution_id)
        with self.ctx.db() as conn:
            return queries.execution_events(conn, execution_id)

    def as_of(self, principal: Principal, execution_id: str, as_of: str) -> dict[str, Any]:
        """The state the execution had at a log offset or a time, folded with the engine's own evolve."""
        self.readable(principal, execution_id)
        max_offset, until = None, None
        if as_of.isdigit():
            max_offset = int(as_of)
        else:
            try:
                until = dt.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ServiceError(400, f"as_of must be a log offset or an ISO-8601 time, got {as_of[:60]!r}") from exc
            if until.tzinfo is None:
                until = until.replace(tzinfo=dt.UTC)
        with self.ctx.db() as conn:
            rows = queries.execution_events(conn, execution_id, max_offset, until)
        state = fold([event_from_row(row) for row in rows])
        if state is None:
            raise ServiceError(404, f"execution {execution_id} did not exist yet at {as_of}")
        answer = state_to_json(state)
        answer["as_of"] = {"offset": rows[-1]["offset"], "partition": rows[-1]["partition"],
                           "time": rows[-1]["occurred_at"].isoformat(), "events": len(rows)}
        return answer
