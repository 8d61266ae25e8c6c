"""The service layer's error: answered as ``{"error": {"status", "message", "details"}}`` by the API's handler."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(self, status: int, message: str, details: Any = None, headers: dict[str, str] | None = None,
                 ) -> None:
        super().__init__(message)
        self.status_code = status
        self.detail = message
        self.details = details
        self.headers = headers


ApiError = ServiceError  # the name the route modules were written with
