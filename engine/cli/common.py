"""What every ``kafkaban`` command shares: exit codes, ``-p key=value`` params, JSON output."""

from __future__ import annotations

import json
import signal
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STILL_RUNNING = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a tool SIGPIPE ended: 141


def params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"-p takes key=value, got {pair!r}")
        out[key] = value
    return out


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))
