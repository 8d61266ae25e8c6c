"""Access routes: log in and out, who am I, users, groups, tokens and project permissions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from engine.access.sessions import COOKIE, SESSION_TTL_MS
from engine.api.deps import Admin, Caller, Ctx
from engine.api.security import PUBLIC
from engine.domain.units import duration_ms
from engine.service.errors import ServiceError

router = APIRouter(prefix="/api/v1", tags=["access"])


class Login(BaseModel):
    username: str | None = Field(None, max_length=64)
    password: str | None = Field(None, max_length=1024)
    token: str | None = Field(None, max_length=1024, description="Instead of a user name and password: an API "
                                                                   "token; the session ends when the token does")


class NewUser(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    roles: list[str] = Field(default_factory=list, max_length=16)
    groups: list[str] = Field(default_factory=list, max_length=64)


class Password(BaseModel):
    password: str = Field(max_length=1024)


class Roles(BaseModel):
    roles: list[str] = Field(default_factory=list, max_length=16)
    groups: list[str] = Field(default_factory=list, max_length=64)


class NewToken(BaseModel):
    user: str | None = Field(None, max_length=64, description="Whose token (default: the caller's own)")
    expires: str | None = Field(None, max_length=20, description="A duration such as 30d or 12h (default: never)")
    description: str = Field("", max_length=200)


class Grant(BaseModel):
    permissions: list[str] = Field(max_length=8, description="READ, WRITE, EXECUTE, SCHEDULE, ADMIN; [] removes")


@router.post("/login", dependencies=[Depends(PUBLIC)])
async def login(body: Login, ctx: Ctx, request: Request) -> JSONResponse:
    """Open a browser session: an HttpOnly, SameSite=Strict cookie, and the CSRF token every write made with it
    must carry as `X-CSRF-Token`. Log in with a user name and password, or with an API token. Failed logins are
    rate limited per client and per user name."""
    client = request.client.host if request.client else "unknown"
    if body.token is not None:
        if body.username is not None or body.password is not None:
            raise ServiceError(400, "log in with a user name and password, or with a token: not both")
        principal, cookie, session = await ctx.access.login_with_token(client, body.token.strip())
    elif body.username is None or body.password is None:
        raise ServiceError(400, "log in with `username` and `password`, or with `token`")
    else:
        principal, cookie, session = await ctx.access.login(client, body.username, body.password)
    answer = JSONResponse({"user": principal.name, "roles": sorted(principal.roles),
                           "groups": sorted(principal.groups), "csrf_token": session.csrf})
    answer.set_cookie(COOKIE, cookie, max_age=SESSION_TTL_MS // 1000, httponly=True, samesite="strict",
                      secure=request.url.scheme == "https", path="/")
    return answer


@router.post("/logout", dependencies=[Depends(PUBLIC)])
def logout() -> JSONResponse:
    answer = JSONResponse({"logged_out": True})
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/me")
def me(principal: Caller) -> dict[str, Any]:
    """The caller: name, global roles, groups, and how it authenticated."""
    return {"user": principal.name, "roles": sorted(principal.roles), "groups": sorted(principal.groups),
            "via": principal.via}


@router.get("/users")
def list_users(principal: Admin, ctx: Ctx) -> dict[str, Any]:
    from projections.access_queries import list_users as users

    with ctx.db() as conn:
        return {"users": users(conn)}


@router.post("/users", status_code=201)
async def add_user(principal: Admin, ctx: Ctx, body: NewUser) -> dict[str, Any]:
    return await ctx.access.add_user(principal, body.name, body.password, body.roles, body.groups)


@router.put("/users/{name}/password")
async def change_password(principal: Caller, ctx: Ctx, name: str, body: Password) -> dict[str, Any]:
    """A user's own password, or anyone's for an admin."""
    return await ctx.access.change_password(principal, name, body.password)


@router.put("/users/{name}/roles")
async def set_roles(principal: Admin, ctx: Ctx, name: str, body: Roles) -> dict[str, Any]:
    return await ctx.access.set_user_roles(principal, name, body.roles, body.groups)


@router.delete("/users/{name}")
async def delete_user(principal: Admin, ctx: Ctx, name: str) -> dict[str, Any]:
    return await ctx.access.delete_user(principal, name)


@router.get("/groups")
def list_groups(principal: Admin, ctx: Ctx) -> dict[str, Any]:
    from projections.access_queries import list_groups as groups

    with ctx.db() as conn:
        return {"groups": groups(conn)}


@router.put("/groups/{name}/roles")
async def set_group_roles(principal: Admin, ctx: Ctx, name: str, body: Roles) -> dict[str, Any]:
    return await ctx.access.set_group_roles(principal, name, body.roles)


@router.post("/tokens", status_code=201)
async def create_token(principal: Caller, ctx: Ctx, body: NewToken) -> dict[str, Any]:
    """A token for the caller (or, for an admin, any user). The token is in this answer only: it is stored as
    the SHA-256 of its secret."""
    expires_ms = None
    if body.expires is not None:
        try:
            expires_ms = duration_ms(body.expires)
        except ValueError as exc:
            raise ServiceError(422, f"expires: {exc}") from exc
    return await ctx.access.create_token(principal, body.user, expires_ms, body.description)


@router.get("/tokens")
async def list_tokens(principal: Caller, ctx: Ctx, user: str | None = Query(None, max_length=64)) -> dict[str, Any]:
    """Tokens (never their secrets): the caller's own, or an admin's choice (every user's without `user`)."""
    return {"tokens": await asyncio.to_thread(ctx.access.list_tokens, principal, user)}


@router.delete("/tokens/{token_id}")
async def revoke_token(principal: Caller, ctx: Ctx, token_id: str) -> dict[str, Any]:
    return await ctx.access.revoke_token(principal, token_id)


@router.get("/projects/{project}/permissions")
async def project_permissions(principal: Caller, ctx: Ctx, project: str) -> dict[str, Any]:
    from engine.access.permissions import Permission
    from projections.access_queries import project_permissions as grants

    await asyncio.to_thread(ctx.access.require, principal, Permission.READ, project)
    with ctx.db() as conn:
        return {"project": project, "permissions": grants(conn, project)}


@router.put("/projects/{project}/permissions/{kind}/{name}")
async def set_project_permission(principal: Caller, ctx: Ctx, project: str, kind: str, name: str,
                                 body: Grant) -> dict[str, Any]:
    """Grant a user or group permissions on a project (`kind`: user or group): ADMIN on the project."""
    return await ctx.access.set_project_permission(principal, project, kind, name, body.permissions)
