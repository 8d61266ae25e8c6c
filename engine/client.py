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
    """Nothing answered at the API's URL: says what to start or set, since that is all a user can do about it."""

    def __init__(self, base_url: str, reason: object) -> None:
        super().__init__(f"cannot reach the Kafkaban API at {base_url} ({_reason(reason)}): start a stack with "
                         f"`kafkaban dev` (or `kafkaban api`), or set KAFKABAN_URL to where one runs")
        self.base_url = base_url


def _reason(reason: object) -> str:
    """``connection refused``, not ``[Errno 111] Connection refused``: the errno means nothing to a user."""
    reason = getattr(reason, "reason", reason)  # a URLError wraps the OSError that says why
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason) or type(reason).__name__
    return text[:1].lower() + text[1:]


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
        raise ApiUnreachable(base_url, exc) from exc


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
        raise ApiUnreachable(base_url, exc) from exc
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
