"""Wall-clock time in UTC milliseconds: the one place the edges read the clock, and the one way times in
milliseconds become datetimes and ISO-8601 text."""

from __future__ import annotations

import datetime as dt
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso_from_ms(ms: int) -> str:
    return utc_from_ms(ms).isoformat()
