"""What a new user meets before any stack runs: a command that finds no API says what to start or set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.broker.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def kafkaban(*args: str, env: dict[str, str] | None = None, **options: object) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    options = {"stdout": subprocess.PIPE, **options}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=environment, stderr=subprocess.PIPE,
                          text=True, timeout=60, **options)  # type: ignore[call-overload]


def test_no_api_listening_says_what_to_start_or_set():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for argv in (["executions"], ["submit", "hello"], ["status", "some-id"]):
        done = kafkaban(*argv, env={"KAFKABAN_URL": url})
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip() == (
            f"kafkaban: cannot reach the Kafkaban API at {url} (connection refused): start a stack with "
            "`kafkaban dev` (or `kafkaban api`), or set KAFKABAN_URL to where one runs"), done.stderr


def closed_pipe_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command writing into a pipe whose reader is already gone (`kafkaban ... | head -1` once head exits)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return kafkaban(*args, env=env, stdout=write)
    finally:
        os.close(write)


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # buffered, the error comes at the last flush; unbuffered, at the first print
    for buffering in ({"PYTHONUNBUFFERED": ""}, {"PYTHONUNBUFFERED": "1"}):
        done = closed_pipe_run("schedule", "preview", "* * * * *", "--count", "1000", "--json", env=buffering)
        assert done.stderr == "", done.stderr  # no BrokenPipeError traceback, no "Exception ignored"
        assert done.returncode == 141, buffering
        # argparse's help output (which swallows a write error itself when unbuffered) is as quiet
        assert closed_pipe_run("schedule", "create", "--help", env=buffering).stderr == ""


def test_version_names_the_installed_package():
    from importlib.metadata import version

    done = kafkaban("--version")
    assert done.returncode == 0 and done.stdout == f"kafkaban {version('kafkaban')}\n", done.stdout + done.stderr
