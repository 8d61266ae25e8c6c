"""What a route is handed besides its parameters: the services, built once per app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from engine.access.permissions import Permission, Principal
from engine.api.security import AUTHENTICATED, role
from engine.service.context import Context
from engine.service.executions import Executions


def context(request: Request) -> Context:
    return request.app.state.context  # type: ignore[no-any-return]


def executions(request: Request) -> Executions:
    return request.app.state.executions  # type: ignore[no-any-return]


def _role(permission: Permission) -> Any:
    return Annotated[Principal, Depends(role(permission))]


Caller = Annotated[Principal, Depends(AUTHENTICATED)]  # authenticated; the service checks the project
Reader = _role(Permission.READ)  # a global READ role (workers, metrics, dead letters)
Admin = _role(Permission.ADMIN)
Ctx = Annotated[Context, Depends(context)]
ExecutionsService = Annotated[Executions, Depends(executions)]
