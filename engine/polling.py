"""Polling until a deadline, the one loop for it: start-up waits (a port, a broker, the API, a topic) and the
CLI's wait for an execution's end. The check decides; it may raise to stop early (a process that exited)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(check: Callable[[], T | None], timeout: float, every: float = 0.1) -> T | None:
    """The first value ``check`` returns that is not None, or None once ``timeout`` seconds have passed (checked
    once more at the deadline, so a check that takes long still gets its last chance)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(every, left))
