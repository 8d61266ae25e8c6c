"""Read your write through the API: the execution once the views hold what a ``Written`` record says.

The API's ``GET /api/v1/executions/{id}?partition=P&min_offset=O`` waits (up to 10 s) until the projector has
passed offset O of partition P and answers 503 when it has not; this helper asks again until its own time is up.
It needs a bearer token with READ on the execution's project, and the API's URL.
"""

from __future__ import annotations

import time
from typing import Any

from engine.client import ApiFailure, call
from engine.producer import Written

RETRY_PAUSE_S = 0.5
HTTP_TIMEOUT_S = 30.0  # longer than the API's own wait (10 s), which answers 503 when it runs out


def projected_path(written: Written) -> str:
    return f"/api/v1/executions/{written.execution_id}?partition={written.partition}&min_offset={written.offset}"


def wait_projected(base_url: str, written: Written, token: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """The execution as the views show it once they include ``written``; an ``ApiFailure`` for any answer but
    503 (404: the execution is unknown to the views even so, e.g. the engine's admission refused its record, or
    the token may not read it), TimeoutError when the views are not there by ``timeout_s`` (checked between
    answers, each of which takes at most the API's 10 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return dict(call(base_url, "GET", projected_path(written), token=token, timeout=HTTP_TIMEOUT_S))
        except ApiFailure as exc:
            # 503: the projector has not passed the offset yet, or PostgreSQL is away; both pass
            if exc.status != 503 or time.monotonic() + RETRY_PAUSE_S > deadline:
                if exc.status == 503:
                    raise TimeoutError(f"the views did not reach offset {written.offset} of partition "
                                       f"{written.partition} within {timeout_s:g} s: {exc.message}") from exc
                raise
        time.sleep(RETRY_PAUSE_S)
