"""The API's error: answered as ``{"error": {"status", "message", "details"}}`` by the app's handler."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException


class ApiError(HTTPException):
    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(status, message)
        self.details = details
