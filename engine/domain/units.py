"""Durations and memory sizes as people write them in flow files."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?B?\s*$")
_MEMORY_MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2,
               "K": 1000 / 1024**2, "M": 1000**2 / 1024**2, "G": 1000**3 / 1024**2, "T": 1000**4 / 1024**2}


def duration_ms(value: object, *, default_unit: str = "s") -> int:
    """'90s', '5m', '250ms', '1.5h' or a bare number in ``default_unit`` -> milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        text = f"{value}{default_unit}"
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"{value!r} is not a duration")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a duration (write e.g. 500ms, 30s, 5m, 2h, 1d)")
    return round(float(match[1]) * _DURATION_MS[match[2] or default_unit])


def memory_mib(value: object) -> int:
    """'512Mi', '4Gi', '1G' or a bare number of MiB -> MiB (rounded up)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a memory size")
    match = _MEMORY.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a memory size (write e.g. 512Mi, 4Gi or a number of MiB)")
    mib = float(match[1]) * _MEMORY_MIB[match[2] or "Mi"]
    return int(-(-mib // 1))
