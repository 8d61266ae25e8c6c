"""The REST API under /api/v1: routers by resource (engine/api/routes) over the service layer (engine/service).

Writes produce records to Kafka and wait (bounded) until the projector has passed the offset they produced, so a
read right after sees them; reads come from PostgreSQL. Every route is behind an access rule and the request
guard (allowed hosts, origins of writes, body size)."""

from __future__ import annotations

import secrets
import urllib.parse
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.api import docs
from engine.api.errors import ERROR_RESPONSES
from engine.api.routes import access, executions, flows, history, operations, projects, schedules
from engine.api.routes.executions import MAX_FOLLOWERS_PER_CLIENT, RETRY_AFTER_S, NulInName
from engine.api.security import BodyTooLarge, RequestGuard, allowed_hosts, api_routes, loopback_only, rule_of
from engine.api.waiting import FollowerLimit, ProjectedPositions
from engine.config import ConfigError, Settings
from engine.projects.archive import MAX_ARCHIVE_BYTES
from engine.service.access import Access
from engine.service.context import READ_YOUR_WRITES_TIMEOUT_S, Context, Writer, views
from engine.service.errors import ServiceError
from engine.service.executions import Executions
from engine.ui import pages as ui
from projections import queries
from projections.db import migrate

MAX_BODY_BYTES = 1024 * 1024  # any request but an archive upload; a flow or submission fits in one Kafka record
ROUTERS = (executions.router, history.router, flows.router, projects.router, schedules.router, access.router,
           operations.router)


def body_limit(path: str) -> int:
    return MAX_ARCHIVE_BYTES if path.startswith("/api/v1/projects/") else MAX_BODY_BYTES


def error(status: int, message: str, details: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    database_url = settings.require_database()
    migrate(database_url, settings.database_schema)
    writer = Writer(settings)

    def read_positions() -> dict[tuple[str, int], int]:
        with views(settings)() as conn:
            return queries.projected_offsets(conn)

    positions = ProjectedPositions(read_positions)

    async def wait_projected(topic: str, partition: int, offset: int) -> bool:
        """Whether the views caught up with a write within the bound. The write is in Kafka either way: the views
        lagging, or PostgreSQL being away, makes this False, never the write a failure."""
        return await positions.reached(topic, partition, offset, READ_YOUR_WRITES_TIMEOUT_S)

    session_key = (settings.session_key or secrets.token_hex(32)).encode()
    access = Access(settings, views(settings), writer.produce, wait_projected, session_key)
    context = Context(settings, writer, wait_projected, access)

    app = FastAPI(title="Kafkaban", version="0.1.0", docs_url=None, redoc_url=None,  # docs.mount serves them
                  description="Event-sourced workflow scheduler on Kafka: flows, executions, jobs. Every route but "
                              "/healthz and /api/v1/login needs `Authorization: Bearer <token>` or a session.")
    app.state.context = context
    app.state.access = context.access
    app.state.executions = Executions(context)
    app.state.followers = FollowerLimit(MAX_FOLLOWERS_PER_CLIENT)
    app.state.watermarks = operations.Watermarks(settings)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)  # the document says what the handlers below answer
    ui.mount(app)
    docs.mount(app)
    served = list(api_routes(app.routes))
    unguarded = [f"{sorted(r.methods)} {r.path}" for r in served if len(rule_of(r)) != 1]
    if not served or unguarded:  # deny by default: a route nobody gave a rule does not get served
        raise ConfigError(f"routes without exactly one access rule: {', '.join(unguarded)}")

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no name, id or filter is meaningful with one: refused here, for
        # every route at once, before anything reads or writes
        if "\x00" in request.url.path or "\x00" in urllib.parse.unquote(request.url.query):
            return error(400, "a NUL character (\\0) is not allowed in a path or query parameter")
        return await call_next(request)

    app.add_middleware(RequestGuard, hosts=allowed_hosts(settings), body_limit=body_limit)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error(exc.status_code, exc.detail, exc.details, exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return error(413, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own (a body it cannot parse is a 400): in the API's error shape like every other
        return error(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, f"no route {request.url.path[:200]}")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
        return error(405, f"{request.method} is not allowed on {request.url.path[:200]}")

    @app.exception_handler(psycopg.Error)
    async def database_away(request: Request, exc: psycopg.Error) -> JSONResponse:
        # the views are unreadable, not wrong: a client should come back, and a write it retries is not lost
        return error(503, f"the views (PostgreSQL) are unavailable: {type(exc).__name__}; retry later",
                     headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                   for e in exc.errors()]
        malformed = any(e.get("type") == "json_invalid" or isinstance(e.get("ctx", {}).get("error"), NulInName)
                        for e in exc.errors())
        status = 400 if malformed else 422
        return error(status, "malformed request" if malformed else "invalid request", details)

    return app


def run(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    import uvicorn

    host = host or settings.api_host
    loopback_only(settings, host)
    uvicorn.run(create_app(settings), host=host, port=port or settings.api_port, log_level="warning")
