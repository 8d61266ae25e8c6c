"""Wall-clock time in UTC milliseconds: the one place the edges read the clock."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
