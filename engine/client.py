"""A small HTTP client of the API for the CLI (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

# a path the CLI built may hold any character of a name; these are the ones a URL may carry as they are
_URL_SAFE = "/?&=%:@,+;!$'()*~"


class ApiUnreachable(RuntimeError):
    pass


class ApiFailure(RuntimeError):
    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def token_for(base_url: str) -> str | None:
    """The token to present: KAFKABAN_TOKEN (or _FILE), else the one a `kafkaban dev` of this user left for its
    URL."""
    from engine.config import Settings
    from engine.dev_tokens import token_for as dev_token

    return Settings.from_env().token or dev_token(base_url)


def _headers(base_url: str, token: str | None, extra: dict[str, str]) -> dict[str, str]:
    token = token or token_for(base_url)
    return {**extra, **({"Authorization": f"Bearer {token}"} if token else {})}


def call(base_url: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
         content_type: str = "application/json", timeout: float = 30.0, token: str | None = None) -> Any:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(_url(base_url, path), data=data, method=method, headers=_headers(
        base_url, token, {"Content-Type": content_type, "Accept": "application/json"}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise _failure(exc) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ApiUnreachable(f"cannot reach the API at {base_url}: {getattr(exc, 'reason', exc)}") from exc


def _failure(exc: urllib.error.HTTPError) -> ApiFailure:
    """The API's documented error shape, read from an error answer."""
    try:
        error = json.loads(exc.read()).get("error", {})
    except ValueError:
        error = {}
    return ApiFailure(exc.code, error.get("message") or exc.reason, error.get("details"))


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + urllib.parse.quote(path, safe=_URL_SAFE)


def stream(base_url: str, path: str, token: str | None = None) -> Iterator[tuple[str, Any]]:
    """The (event, data) pairs of a Server-Sent Events answer, data decoded from JSON, until the server ends it."""
    request = urllib.request.Request(_url(base_url, path),
                                     headers=_headers(base_url, token, {"Accept": "text/event-stream"}))
    try:
        response = urllib.request.urlopen(request, timeout=None)
    except urllib.error.HTTPError as exc:
        raise _failure(exc) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ApiUnreachable(f"cannot reach the API at {base_url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        event, data = "message", ""
        for raw in response:
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if data:
                    yield event, json.loads(data)
                event, data = "message", ""
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
