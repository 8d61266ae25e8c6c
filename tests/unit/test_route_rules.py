"""Deny by default: every API route names exactly one access rule, and the public ones are a short, fixed list.

The app is built from engine/api/app.py's ROUTERS alone, without create_app (which needs Kafka and PostgreSQL).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from engine.api.app import ROUTERS
from engine.api.security import AUTHENTICATED, PUBLIC, api_routes, rule_of

PUBLIC_PATHS = {"/healthz", "/api/v1/login", "/api/v1/logout"}  # a new public route is a change to this line


def app_of(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return app


def described(route: APIRoute) -> str:
    return f"{sorted(route.methods)} {route.path}"


def offenders(app: FastAPI) -> list[str]:
    return [described(r) for r in api_routes(app.routes) if len(rule_of(r)) != 1]


ROUTES = list(api_routes(app_of(*ROUTERS).routes))


def test_the_walk_finds_every_route_of_every_router():
    # without this, a walk that found nothing would make every test below pass
    assert len(ROUTES) == sum(len(router.routes) for router in ROUTERS)
    assert len(ROUTES) > len(PUBLIC_PATHS)


def test_every_route_has_exactly_one_access_rule():
    assert offenders(app_of(*ROUTERS)) == []


def test_the_public_routes_are_exactly_health_login_and_logout():
    public = {r.path for r in ROUTES if rule_of(r) == [PUBLIC]}
    assert public == PUBLIC_PATHS


def test_every_other_route_needs_an_authenticated_caller():
    for route in ROUTES:
        if route.path not in PUBLIC_PATHS:
            assert [rule.kind for rule in rule_of(route)] in (["authenticated"], ["role"]), described(route)


def test_a_route_added_without_a_rule_is_an_offender():
    bare = APIRouter(prefix="/api/v1")

    @bare.get("/unguarded")
    async def unguarded() -> dict[str, str]:
        return {}

    app = app_of(*ROUTERS, bare)
    (route,) = [r for r in api_routes(app.routes) if r.path == "/api/v1/unguarded"]
    assert rule_of(route) == []
    assert offenders(app) == ["['GET'] /api/v1/unguarded"]


def test_a_route_with_two_rules_is_an_offender():
    # two rules would be one too many to reason about: which one decides?
    doubled = APIRouter(prefix="/api/v1", dependencies=[Depends(AUTHENTICATED)])

    @doubled.get("/doubled", dependencies=[Depends(PUBLIC)])
    async def twice() -> dict[str, str]:
        return {}

    assert offenders(app_of(doubled)) == ["['GET'] /api/v1/doubled"]


def test_create_apps_listing_of_routes_sees_every_route():
    # the listing create_app checks: newer FastAPI keeps an included router as one entry of app.routes, and a check
    # of app.routes alone once saw no route at all, so it would have served an unguarded one
    assert len(list(api_routes(app_of(*ROUTERS).routes))) == len(ROUTES)
