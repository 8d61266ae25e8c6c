"""A small HTTP client of the API for the CLI (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ApiUnreachable(RuntimeError):
    pass


class ApiFailure(RuntimeError):
    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def call(base_url: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
         content_type: str = "application/json", timeout: float = 30.0) -> Any:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
        except ValueError:
            error = {}
        raise ApiFailure(exc.code, error.get("message") or exc.reason, error.get("details")) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ApiUnreachable(f"cannot reach the API at {base_url}: {getattr(exc, 'reason', exc)}") from exc
