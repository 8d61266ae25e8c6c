"""Helpers for the child processes Kafkaban's parts start: the dev stack's services and the workers' jobs."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1
try:  # looked up once here: the child between fork and exec must not load libraries (other threads may hold locks)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


def die_with_parent() -> None:
    """In a child, before exec: receive SIGTERM when the parent dies (Linux), so nothing outlives its owner."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
