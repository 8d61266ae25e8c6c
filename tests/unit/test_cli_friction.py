"""What a new user meets before any stack runs: a command that finds no API says what to start or set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def kafkaban(*args: str, env: dict[str, str] | None = None, **options: object) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=environment, capture_output=True,
                          text=True, timeout=60, **options)  # type: ignore[call-overload]


def test_no_api_listening_says_what_to_start_or_set():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for argv in (["executions"], ["submit", "hello"], ["status", "some-id"]):
        done = kafkaban(*argv, env={"KAFKABAN_URL": url})
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip() == (
            f"kafkaban: cannot reach the Kafkaban API at {url} (connection refused): start a stack with "
            "`kafkaban dev` (or `kafkaban api`), or set KAFKABAN_URL to where one runs"), done.stderr
