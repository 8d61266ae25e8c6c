"""Authentication and authorization as one FastAPI dependency, and the request guards every route is behind.

Every route names its rule: PUBLIC, AUTHENTICATED (the handler then checks the project's permission through the
service layer), ``role(PERMISSION)`` (a global role) or PAGE (a web UI page: authenticated, and a browser without an
identity is sent to the login form instead of answered 401). ``create_app`` refuses to start with a route that names
none: access is denied by default, not granted by forgetting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.access.permissions import Permission, Principal
from engine.access.sessions import COOKIE, CSRF_HEADER
from engine.config import Settings, host_of, is_loopback
from engine.service.access import Access, Unauthenticated, forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANONYMOUS_ADMIN = Principal("anonymous", frozenset({Permission.ADMIN}), via="none")


def access_of(request: Request) -> Access:
    return request.app.state.access  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Rule:
    """A route's access rule, as a dependency that answers with the request's principal."""

    kind: str  # public, authenticated, role, page
    permission: Permission | None = None

    async def __call__(self, request: Request) -> Principal | None:
        if self.kind == "public":
            return None
        if self.kind == "page":
            try:
                return await authenticate(request)
            except Unauthenticated:
                raise LoginRequired(request.url.path, request.url.query) from None
        principal = await authenticate(request)
        if self.permission is not None and not access_of(request).may_role(principal, self.permission):
            raise forbidden(principal, self.permission, "(a global role)")
        return principal


PUBLIC = Rule("public")
AUTHENTICATED = Rule("authenticated")
PAGE = Rule("page")


class LoginRequired(Exception):
    """A page asked for without an identity: answered with a redirect to the login form, back here after."""

    def __init__(self, path: str, query: str) -> None:
        super().__init__(path)
        self.back_to = f"{path}?{query}" if query else path


def role(permission: Permission) -> Rule:
    return Rule("role", permission)


async def authenticate(request: Request) -> Principal:
    access = access_of(request)
    if access.settings.auth == "off":
        return ANONYMOUS_ADMIN
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("give a token as `Authorization: Bearer <token>`")
        return await asyncio.to_thread(access.principal_of_token, token.strip())
    cookie = request.cookies.get(COOKIE)
    if cookie:
        principal, session = await asyncio.to_thread(access.principal_of_session, cookie)
        request.state.session = session  # a page hands its CSRF token to its script
        # a cookie is sent by the browser whoever made the page: a write also needs the token only our page has
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != session.csrf:
            raise forbidden(principal, Permission.WRITE, f"without the session's {CSRF_HEADER} header")
        return principal
    raise Unauthenticated("authentication required: give `Authorization: Bearer <token>` (kafkaban token create) "
                          "or log in")


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute an app serves. Newer FastAPI keeps an included router as one entry of ``app.routes`` (its
    routes under ``original_router``) instead of copying its routes in, so the walk goes into those too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def rule_of(route: APIRoute) -> list[Rule]:
    """The rules among a route's dependencies (a route must have exactly one)."""
    found: list[Rule] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, Rule):
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return found


def allowed_hosts(settings: Settings) -> frozenset[str]:
    hosts = {"localhost", "127.0.0.1", "::1", host_of(settings.api_url), *settings.api_hosts}
    if settings.api_host not in ("0.0.0.0", "::", ""):
        hosts.add(settings.api_host)
    return frozenset(h.lower() for h in hosts)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


class RequestGuard:
    """Before any route: the Host must be one of ours (a DNS-rebinding page names its own), a write from a browser
    must come from one of our origins, and a body may not pass its size limit, declared or streamed."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], body_limit: Callable[[str], int]) -> None:
        self.app = app
        self.hosts = hosts
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = host_of(headers.get("host", "")).lower()
        if host not in self.hosts:
            await _error(421, f"this API does not answer to the host {host[:100]!r}; add it to KAFKABAN_API_HOSTS "
                              f"if it is one of its names")(scope, receive, send)
            return
        method = scope["method"]
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and (origin == "null" or host_of(origin).lower() not in self.hosts):
                await _error(403, f"a write from the origin {origin[:100]!r} is refused: not one of this API's "
                                  f"hosts")(scope, receive, send)
                return
            if headers.get("sec-fetch-site") == "cross-site":
                await _error(403, "a cross-site write is refused")(scope, receive, send)
                return
        limit = self.body_limit(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            if declared.isdigit() and int(declared) <= DRAIN_BYTES:
                await _drain(receive)  # a client still sending when the answer comes sees a broken pipe, not it
            await _error(413, f"the body is {declared[:20]} bytes; at most {limit:,} are accepted here"
                         )(scope, receive, send)
            return
        await self.app(scope, _capped(receive, limit), send)


DRAIN_BYTES = 64 * 1024 * 1024


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is more than {limit:,} bytes; at most {limit:,} are accepted here")
        self.limit = limit


def _capped(receive: Receive, limit: int) -> Callable[[], Awaitable[Message]]:
    """A receive that raises BodyTooLarge once a streamed (chunked) body passes ``limit``."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return capped


def loopback_only(settings: Settings, host: str) -> None:
    """`kafkaban api` with authentication off listens on loopback only."""
    from engine.config import ConfigError

    if settings.auth == "off" and not is_loopback(host):
        raise ConfigError(f"KAFKABAN_AUTH=off lets anyone who reaches the API do anything: it listens on a loopback "
                          f"address only, not {host!r}")
