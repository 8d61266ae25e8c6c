"""REST API under /api/v1. Writes produce events to Kafka; reads come from PostgreSQL.

Every write waits (bounded) until the projector has passed the offset it produced, so a read right after it sees
it; the answer carries that offset either way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException

from engine.api.errors import ApiError
from engine.api.projects import add_project_routes
from engine.api.schedules import add_schedule_routes, sync_trigger
from engine.api.waiting import FollowerLimit, ProjectedPositions, TooManyFollowers
from engine.clock import now_ms
from engine.codec import codec, encode_event
from engine.codec.json_state import state_to_json
from engine.codec.records import flow_registered
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.evolve import fold
from engine.domain.ids import execution_id_for_key
from engine.domain.loader import check_flow, flow_warnings
from engine.domain.spec import FlowSpec
from engine.domain.state import EXECUTION_TERMINAL
from engine.domain.validation import param_problems
from engine.kafka import MAX_RECORD_BYTES, RECORD_OVERHEAD_BYTES, consumer_config, fits_in_a_record, producer_config
from projections import queries
from projections.db import connect, migrate
from projections.queries import event_from_row
from projections.schedule_queries import schedule_metrics

MAX_FLOW_BYTES = 512 * 1024  # a registered source, with its record framing, must fit in one Kafka record
READ_YOUR_WRITES_TIMEOUT_S = 10.0
RETRY_AFTER_S = 5
MAX_FOLLOWERS_PER_CLIENT = 8  # open log streams per client address; the next one is a 429
FOLLOW_POLL_S = 0.25
JOB_ENDED = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"}


class SubmitRequest(BaseModel):
    flow: str | None = Field(None, description="Name of a registered flow")
    version: str | None = Field(None, description="Version hash of the flow (default: the latest)")
    definition: str | None = Field(None, description="An inline flow definition (YAML) instead of a name")
    params: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = None
    submitter: str = "api"


    @field_validator("flow", "version", "submitter", "idempotency_key")
    @classmethod
    def no_nul_in_names(cls, value: str | None) -> str | None:
        return refuse_nul(value)

    @field_validator("params")
    @classmethod
    def no_nul_in_param_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            refuse_nul(name)
        return value  # values may hold anything the log can carry; the views show NUL as U+2400


class CancelRequest(BaseModel):
    requested_by: str = "api"
    reason: str | None = None

    @field_validator("requested_by")
    @classmethod
    def no_nul_in_names(cls, value: str) -> str:
        return refuse_nul(value)  # type: ignore[return-value]


class NulInName(ValueError):
    """Answered 400, like a NUL in a path or query: not a shape the request could be corrected to."""


def refuse_nul(value: str | None) -> str | None:
    """Names and ids: a NUL in one is a mistake or an attack, never meaningful."""
    if value is not None and "\x00" in value:
        raise NulInName("a NUL character (\\0) is not allowed in a name or id")
    return value


class Writer:
    """Produces records and reports where they landed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = Producer(producer_config(settings))
        self.lock = threading.Lock()

    def produce(self, topic: str, key: str, value: bytes) -> tuple[int, int]:
        result: dict[str, Any] = {}

        def delivered(error: Any, message: Any) -> None:
            result["error"], result["message"] = error, message

        with self.lock:
            try:
                self.producer.produce(topic, key=key.encode(), value=value, on_delivery=delivered)
            except KafkaException as exc:  # refused before sending (too large, queue full)
                if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise ApiError(413, f"{len(value):,} bytes are too large for one record of {topic}") from exc
                raise ApiError(503, f"could not write to {topic}: {exc.args[0]}") from exc
            self.producer.flush(30)
        error = result.get("error")
        if error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            raise ApiError(413, f"{len(value):,} bytes are too large for one record of {topic}")
        if error is not None or "message" not in result:
            raise ApiError(503, f"could not write to {topic}: {error or 'no delivery report'}")
        return result["message"].partition(), result["message"].offset()


class Watermarks:
    """High watermarks of the topics, for the projector lag metric."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = Consumer(consumer_config(settings, f"kafkaban-api-{uuid.uuid4()}"))
        self.lock = threading.Lock()

    def high(self, topic: str, partition: int) -> int | None:
        with self.lock:
            try:
                return int(self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=2)[1])
            except Exception:
                return None


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "type": row["type"], "topic": row["topic"], "partition": row["partition"],
            "offset": row["offset"], "producer": row["producer"], "occurred_at": row["occurred_at"].isoformat(),
            "causation_id": row["causation_id"], "correlation_id": row["correlation_id"], "payload": row["payload"]}


def create_app(settings: Settings) -> FastAPI:
    database_url = settings.require_database()
    migrate(database_url, settings.database_schema)
    writer = Writer(settings)
    watermarks = Watermarks(settings)
    app = FastAPI(title="Kafkaban", version="0.1.0",
                  description="Event-sourced workflow scheduler on Kafka: flows, executions, jobs.")

    @contextmanager
    def db() -> Iterator[psycopg.Connection]:
        with connect(database_url, settings.database_schema, autocommit=True) as conn:
            yield conn

    def read_positions() -> dict[tuple[str, int], int]:
        with db() as conn:
            return queries.projected_offsets(conn)

    positions = ProjectedPositions(read_positions)
    followers = FollowerLimit(MAX_FOLLOWERS_PER_CLIENT)

    async def wait_projected(topic: str, partition: int, offset: int) -> bool:
        """Whether the views caught up with a write within the bound. The write is in Kafka either way: the views
        lagging, or PostgreSQL being away, makes this False, never the write a failure."""
        return await positions.reached(topic, partition, offset, READ_YOUR_WRITES_TIMEOUT_S)

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no name, id or filter is meaningful with one: refused here, for
        # every route at once, before anything reads or writes
        if "\x00" in request.url.path or "\x00" in urllib.parse.unquote(request.url.query):
            return JSONResponse({"error": {"status": 400, "message": "a NUL character (\\0) is not allowed in a "
                                                                  "path or query parameter"}}, status_code=400)
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        body: dict[str, Any] = {"status": exc.status_code, "message": exc.detail}
        if isinstance(exc, ApiError) and exc.details is not None:
            body["details"] = exc.details
        return JSONResponse({"error": body}, status_code=exc.status_code)

    @app.exception_handler(psycopg.Error)
    async def database_away(request: Request, exc: psycopg.Error) -> JSONResponse:
        # the views are unreadable, not wrong: a client should come back, and a write it retries is not lost
        return JSONResponse({"error": {"status": 503, "message": f"the views (PostgreSQL) are unavailable: "
                                                                f"{type(exc).__name__}; retry later"}},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                   for e in exc.errors()]
        malformed = any(e.get("type") == "json_invalid" or isinstance(e.get("ctx", {}).get("error"), NulInName)
                        for e in exc.errors())
        status = 400 if malformed else 422
        message = "malformed request" if malformed else "invalid request"
        return JSONResponse({"error": {"status": status, "message": message, "details": details}},
                            status_code=status)

    if settings.dev_stack:
        @app.get("/api/v1/dev/connection", include_in_schema=False)
        def dev_connection(request: Request) -> dict[str, Any]:
            """Where a `kafkaban dev` stack's broker and database are, for the CLI's log-reading commands; only
            on a dev stack, and only to a client on this machine."""
            if request.client is None or request.client.host not in ("127.0.0.1", "::1"):
                raise ApiError(403, "only a client on this machine may ask where the dev stack's parts are")
            return {"bootstrap": settings.bootstrap, "database_url": settings.database_url}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        with db() as conn:
            conn.execute("SELECT 1")
        return {"status": "ok"}

    @app.post("/api/v1/flows", status_code=201)
    async def register_flow(request: Request, name: str | None = Query(None)) -> dict[str, Any]:
        body = await request.body()
        if len(body) > MAX_FLOW_BYTES:
            raise ApiError(413, f"flow definition is {len(body)} bytes; at most {MAX_FLOW_BYTES} are accepted")
        try:
            source = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "flow definition must be UTF-8 text") from exc
        spec, problems = check_flow(source, default_name=name or "flow")
        if problems or spec is None:
            raise ApiError(422, "invalid flow definition", [p.to_dict() for p in problems])
        record = flow_registered(spec.name, spec.version_hash(), source, "api", now_ms())
        partition, offset = await asyncio.to_thread(
            writer.produce, settings.definitions_topic, spec.name,
            codec("definitions", settings.schema_registry_url).encode(record))
        trigger = await sync_trigger(settings, db, writer.produce, spec.name, source, "api")
        projected = await wait_projected(settings.definitions_topic, partition, offset)
        return {"name": spec.name, "version": spec.version_hash(), "jobs": len(spec.jobs), "offset": offset,
                "partition": partition, "projected": projected, "trigger": trigger,
                "warnings": [w.to_dict() for w in flow_warnings(spec)]}

    @app.get("/api/v1/flows")
    def list_flows() -> dict[str, Any]:
        with db() as conn:
            return {"flows": queries.list_flows(conn)}

    @app.post("/api/v1/executions", status_code=202)
    async def submit(request: SubmitRequest) -> Any:
        prepared = await asyncio.to_thread(prepare_submission, request)
        if isinstance(prepared, JSONResponse):
            return prepared
        execution_id, spec, value = prepared
        partition, offset = await asyncio.to_thread(writer.produce, settings.executions_topic, execution_id, value)
        projected = await wait_projected(settings.executions_topic, partition, offset)
        return {"execution_id": execution_id, "status": "SUBMITTED", "flow": spec.name,
                "version": spec.version_hash(), "partition": partition, "offset": offset, "projected": projected}

    def prepare_submission(request: SubmitRequest) -> JSONResponse | tuple[str, FlowSpec, bytes]:
        """Everything before the write, which reads the views: the flow, its params, an existing execution of
        the idempotency key (answered as it is), the encoded record."""
        spec, project, archive = resolve_flow(request)
        problems = param_problems(spec, request.params)
        if problems:
            raise ApiError(422, "; ".join(problems))
        if request.idempotency_key:
            execution_id = execution_id_for_key(spec.name, request.idempotency_key, project)
            with db() as conn:
                existing = queries.get_execution(conn, execution_id)
            if existing is not None:
                return JSONResponse({"execution_id": execution_id, "status": existing["status"],
                                     "duplicate": True}, status_code=200)
        else:
            execution_id = str(uuid.uuid4())
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "api", ev.ExecutionSubmitted(
            flow_name=spec.name, definition_hash=spec.version_hash(), definition=spec, params=request.params,
            submitter=request.submitter, idempotency_key=request.idempotency_key, project=project,
            archive=archive))
        value = encode_event(event, settings.schema_registry_url)
        if not fits_in_a_record(value):
            raise ApiError(413, f"the submission encodes to {len(value):,} bytes (definition and params); at most "
                                f"{MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES:,} fit in one Kafka record")
        return execution_id, spec, value

    def resolve_flow(request: SubmitRequest) -> tuple[FlowSpec, str | None, str | None]:
        """The flow to run, and the project and archive it comes from (a PROJECT/FLOW name; ``version`` is then
        an archive's sha256, default the latest upload)."""
        if request.definition is None and request.flow and "/" in request.flow:
            project, flow = request.flow.split("/", 1)
            with db() as conn:
                found = queries.project_flow(conn, project, flow, request.version)
            if found is None:
                where = f"project {project!r}" + (f" archive {request.version}" if request.version else "")
                raise ApiError(404, f"{where} has no flow {flow!r}")
            spec, problems = check_flow(found["source"], default_name=flow)
            if problems or spec is None:
                raise ApiError(409, "the project's definition no longer validates", [p.to_dict() for p in problems])
            return spec, project, found["archive"]
        return resolve_registered(request), None, None

    def resolve_registered(request: SubmitRequest) -> FlowSpec:
        if request.definition is not None:
            if len(request.definition.encode()) > MAX_FLOW_BYTES:
                raise ApiError(413, f"inline definition is larger than {MAX_FLOW_BYTES} bytes")
            spec, problems = check_flow(request.definition, default_name=request.flow or "inline")
            if problems or spec is None:
                raise ApiError(422, "invalid flow definition", [p.to_dict() for p in problems])
            return spec
        if not request.flow:
            raise ApiError(400, "give a flow name (flow) or an inline definition (definition)")
        with db() as conn:
            row = queries.flow_source(conn, request.flow, request.version)
        if row is None:
            what = f"flow {request.flow!r}" + (f" version {request.version}" if request.version else "")
            raise ApiError(404, f"{what} is not registered")
        spec, problems = check_flow(row["source"], default_name=request.flow)
        if problems or spec is None:
            raise ApiError(409, "the registered definition no longer validates",
                           [p.to_dict() for p in problems])
        return spec

    add_project_routes(app, settings, db, writer.produce, wait_projected)
    add_schedule_routes(app, settings, db, writer.produce, wait_projected)

    @app.get("/api/v1/executions")
    async def list_executions(status: str | None = None, flow: str | None = None, since: dt.datetime | None = None,
                        until: dt.datetime | None = None, schedule: str | None = None, cursor: str | None = None,
                        limit: int = Query(50, ge=1, le=1000), partition: int | None = None,
                        min_offset: int | None = None) -> dict[str, Any]:
        """Executions, newest first, filtered; `next_cursor` fetches the next page."""
        await read_after(settings.executions_topic, partition, min_offset)

        def page() -> dict[str, Any]:
            with db() as conn:
                try:
                    rows, next_cursor = queries.list_executions(conn, status, flow, since, until, schedule, cursor,
                                                                limit)
                except ValueError as exc:
                    raise ApiError(400, str(exc)) from exc
            return {"executions": rows, "next_cursor": next_cursor}

        return await asyncio.to_thread(page)

    async def read_after(topic: str, partition: int | None, min_offset: int | None) -> None:
        """Read-your-writes: wait (bounded) until the projector has passed an offset a write returned."""
        if (partition is not None and partition < 0) or (min_offset is not None and min_offset < 0):
            raise ApiError(400, "partition and min_offset cannot be negative")
        if min_offset is None:
            return
        if partition is None:
            raise ApiError(400, "min_offset needs the partition it was written to")
        if not await wait_projected(topic, partition, min_offset):
            raise ApiError(503, f"the projection has not reached offset {min_offset} of partition {partition} "
                                f"within {READ_YOUR_WRITES_TIMEOUT_S:g} s; try again")

    @app.get("/api/v1/executions/{execution_id}")
    async def get_execution(execution_id: str, as_of: str | None = None, partition: int | None = None,
                      min_offset: int | None = None) -> dict[str, Any]:
        """The execution with its jobs and attempts; with `as_of` (an offset or an ISO-8601 time), the state it
        had then, folded from the stored events with the engine's own evolve."""
        await read_after(settings.executions_topic, partition, min_offset)
        if as_of is not None:
            return await asyncio.to_thread(time_travel, execution_id, as_of)
        return await asyncio.to_thread(load_execution, execution_id)

    def load_execution(execution_id: str) -> dict[str, Any]:
        with db() as conn:
            found = queries.get_execution(conn, execution_id)
        if found is None:
            raise ApiError(404, f"execution {execution_id} not found")
        return found

    def time_travel(execution_id: str, as_of: str) -> dict[str, Any]:
        max_offset, until = None, None
        if as_of.isdigit():
            max_offset = int(as_of)
        else:
            try:
                until = dt.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ApiError(400, f"as_of must be a log offset or an ISO-8601 time, got {as_of!r}") from exc
            if until.tzinfo is None:
                until = until.replace(tzinfo=dt.UTC)
        with db() as conn:
            rows = queries.execution_events(conn, execution_id, max_offset, until)
            exists = rows or queries.execution_events(conn, execution_id)
        if not exists:
            raise ApiError(404, f"execution {execution_id} not found")
        state = fold([event_from_row(row) for row in rows])
        if state is None:
            raise ApiError(404, f"execution {execution_id} did not exist yet at {as_of}")
        answer = state_to_json(state)
        answer["as_of"] = {"offset": rows[-1]["offset"], "partition": rows[-1]["partition"],
                           "time": rows[-1]["occurred_at"].isoformat(), "events": len(rows)}
        return answer

    @app.get("/api/v1/executions/{execution_id}/events")
    def execution_events(execution_id: str) -> dict[str, Any]:
        """The ordered event history of an execution, with each event's topic, partition and offset."""
        with db() as conn:
            rows = queries.execution_events(conn, execution_id)
        if not rows:
            raise ApiError(404, f"execution {execution_id} not found")
        return {"execution_id": execution_id, "events": [event_json(row) for row in rows]}

    @app.get("/api/v1/executions/{execution_id}/jobs/{job:path}/logs", response_model=None)
    async def job_logs(request: Request, execution_id: str, job: str, attempt: int | None = Query(None, ge=1),
                       follow: bool = False) -> Any:
        """Output lines of one attempt (default: the current one). `follow=true` streams them as Server-Sent
        Events until the attempt has ended; at most MAX_FOLLOWERS_PER_CLIENT streams per client (then 429)."""
        run = await asyncio.to_thread(job_run, execution_id, job)
        if run is None:
            raise ApiError(404, f"job {job!r} of execution {execution_id} not found")
        number = attempt or max(run["attempt"], 1)
        if not follow:
            lines = await asyncio.to_thread(logs_after, execution_id, job, number, None)
            return {"execution_id": execution_id, "job": job, "attempt": number, "lines": lines}
        stream = follow_logs(execution_id, job, number)
        client = request.client.host if request.client else "unknown"
        try:
            followers.take(client, stream)
        except TooManyFollowers:
            await stream.aclose()
            return JSONResponse({"error": {"status": 429, "message": f"{client} already follows "
                                                                  f"{MAX_FOLLOWERS_PER_CLIENT} logs; close one first"}},
                                status_code=429, headers={"Retry-After": str(RETRY_AFTER_S)})
        return StreamingResponse(stream, media_type="text/event-stream")

    def job_run(execution_id: str, job: str) -> dict[str, Any] | None:
        with db() as conn:
            return queries.job_run(conn, execution_id, job)

    def logs_after(execution_id: str, job: str, attempt: int, seq: int | None) -> list[dict[str, Any]]:
        with db() as conn:
            if seq is None:
                return queries.job_logs(conn, execution_id, job, attempt)
            return queries.job_logs(conn, execution_id, job, attempt, after_seq=seq)

    async def follow_logs(execution_id: str, job: str, attempt: int) -> AsyncIterator[str]:
        # a coroutine between polls, not a thread: each poll borrows a thread only for its two short queries
        seq = -1
        yield ": following\n\n"
        while True:
            lines = await asyncio.to_thread(logs_after, execution_id, job, attempt, seq)
            run = await asyncio.to_thread(job_run, execution_id, job)
            for line in lines:
                seq = line["seq"]
                yield f"id: {seq}\nevent: line\ndata: {json.dumps(line)}\n\n"
            ended = run is None or run["attempt"] > attempt or run["status"] in JOB_ENDED
            if ended and not lines:
                yield f"event: end\ndata: {json.dumps({'status': run['status'] if run else None})}\n\n"
                return
            if not lines:
                await asyncio.sleep(FOLLOW_POLL_S)

    @app.get("/api/v1/flows/{name}")
    def get_flow(name: str) -> dict[str, Any]:
        """A flow with every registered version, newest first."""
        with db() as conn:
            versions = queries.flow_versions(conn, name)
        if not versions:
            raise ApiError(404, f"flow {name!r} is not registered")
        return {"name": name, "versions": versions}

    @app.get("/api/v1/workers")
    def list_workers() -> dict[str, Any]:
        """Workers by their last heartbeat: pool, slots, running attempts, alive (heard from in 15 s)."""
        with db() as conn:
            return {"workers": queries.list_workers(conn)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        """Prometheus text format: executions by status, dispatch latency, projector lag."""
        with db() as conn:
            counts = queries.status_counts(conn)
            latencies = sorted(queries.dispatch_latencies(conn))
            positions = queries.projector_positions(conn)
            schedules = schedule_metrics(conn)
        out = ["# HELP kafkaban_executions Executions by status.", "# TYPE kafkaban_executions gauge"]
        for status in ("SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"):
            out.append(f'kafkaban_executions{{status="{status}"}} {counts.get(status, 0)}')
        out += ["# HELP kafkaban_dispatch_latency_seconds Queued to started, last 1000 attempts.",
                "# TYPE kafkaban_dispatch_latency_seconds summary"]
        for quantile in (0.5, 0.95, 0.99):
            value = latencies[min(int(quantile * len(latencies)), len(latencies) - 1)] if latencies else 0.0
            out.append(f'kafkaban_dispatch_latency_seconds{{quantile="{quantile}"}} {value:.6f}')
        out += [f"kafkaban_dispatch_latency_seconds_sum {sum(latencies):.6f}",
                f"kafkaban_dispatch_latency_seconds_count {len(latencies)}",
                "# HELP kafkaban_projector_lag Records in the log the projector has not written yet.",
                "# TYPE kafkaban_projector_lag gauge"]
        for topic, partition, next_offset in sorted(positions):
            high = watermarks.high(topic, partition)
            if high is not None:
                out.append(f'kafkaban_projector_lag{{topic="{topic}",partition="{partition}"}} '
                           f"{max(high - next_offset, 0)}")
        out += ["# HELP kafkaban_schedules Schedules by status.", "# TYPE kafkaban_schedules gauge"]
        for status in ("ACTIVE", "PAUSED", "DELETED"):
            out.append(f'kafkaban_schedules{{status="{status}"}} {schedules["schedules"].get(status, 0)}')
        out += ["# HELP kafkaban_schedule_ticks_total Ticks decided, by outcome.",
                "# TYPE kafkaban_schedule_ticks_total counter"]
        for outcome in ("FIRED", "SKIPPED", "BUFFERED"):
            out.append(f'kafkaban_schedule_ticks_total{{outcome="{outcome}"}} {schedules["ticks"].get(outcome, 0)}')
        lag = schedules["fire_lag_seconds"] or {}
        out += ["# HELP kafkaban_schedule_missed_total Skip decisions for missed ticks (after downtime).",
                "# TYPE kafkaban_schedule_missed_total counter",
                f"kafkaban_schedule_missed_total {schedules['missed']}",
                "# HELP kafkaban_schedule_fire_lag_seconds Decided minus logical time of on-time fires, last hour.",
                "# TYPE kafkaban_schedule_fire_lag_seconds summary"]
        for quantile, key in ((0.5, "p50"), (0.99, "p99")):
            out.append(f'kafkaban_schedule_fire_lag_seconds{{quantile="{quantile}"}} {float(lag.get(key) or 0):.6f}')
        out.append(f"kafkaban_schedule_fire_lag_seconds_count {lag.get('fires', 0)}")
        return "\n".join(out) + "\n"

    @app.post("/api/v1/executions/{execution_id}/cancel", status_code=202)
    def cancel(execution_id: str, request: CancelRequest | None = None) -> dict[str, Any]:
        request = request or CancelRequest()
        with db() as conn:
            found = queries.get_execution(conn, execution_id)
        if found is None:
            raise ApiError(404, f"execution {execution_id} not found")
        if found["status"] in EXECUTION_TERMINAL:
            raise ApiError(409, f"execution {execution_id} already ended: {found['status']}")
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "api",
                         ev.CancelRequested(request.requested_by, request.reason))
        partition, offset = writer.produce(settings.executions_topic, execution_id,
                                           encode_event(event, settings.schema_registry_url))
        return {"execution_id": execution_id, "status": "CANCEL_REQUESTED", "partition": partition,
                "offset": offset}

    return app


def run(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port,
                log_level="warning")
