"""The one shape every error of the API has, ``{"error": {"status", "message", "details"?}}``, as the OpenAPI
document declares it: the statuses any route may answer with it (the guard's 421, 403 and 413 come before the
route; the handlers in app.py turn validation, service and database errors into it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status again")
    message: str
    details: Any = Field(None, description="What was wrong, where the message alone does not say (optional)")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_STATUSES = {
    400: "Malformed request (a NUL, a body that is not JSON, a value out of range)",
    401: "No or an unknown token or session",
    403: "The caller lacks the permission, or a browser write came from another origin",
    404: "No such resource (or one the caller may not read)",
    409: "It exists already",
    413: "The body is too large",
    421: "The Host header is not one of this API's names",
    422: "The request does not validate",
    429: "Too many attempts or streams; see Retry-After",
    503: "The views (PostgreSQL) or the log (Kafka) are unavailable, or lag; see Retry-After",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description} for status, description in ERROR_STATUSES.items()}
