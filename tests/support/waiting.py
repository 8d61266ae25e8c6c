"""Polling for a condition in tests that watch running parts: its first truthy value, or a failure saying what did
not happen in time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from engine.polling import poll_until

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    found = poll_until(lambda: check() or None, timeout, every)
    if found is None:
        raise AssertionError(f"not within {timeout} s: {what}")
    return found
