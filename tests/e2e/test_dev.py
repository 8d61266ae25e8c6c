"""`kafkaban dev`: one command starts everything, runs the example, and SIGTERM leaves nothing behind."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from engine.embedded import free_port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_dev_starts_everything_runs_the_example_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKABAN_BOOTSTRAP", "KAFKABAN_DATABASE_URL")}
    env["KAFKABAN_URL"] = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    dev = subprocess.Popen([sys.executable, "-m", "engine.cli", "dev", "--port", str(port), "--example"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in dev.stdout], daemon=True).start()

    def wait_line(pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert dev.poll() is None, "dev exited:\n" + "".join(seen)
                continue
            seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n" + "".join(seen))

    try:
        wait_line(r"kafkaban dev is ready in", 60)
        ready_after = time.monotonic() - started
        bootstrap = wait_line(r"bootstrap:\s+127\.0\.0\.1:(\d+)", 5)
        broker_port = int(bootstrap[1])
        database = wait_line(r"database:\s+\S+host=(\S+)", 5)
        execution_id = wait_line(r"execution ([0-9a-f-]{36})", 30)[1]
        status = subprocess.run([sys.executable, "-m", "engine.cli", "submit", "hello", "-p", "who=tests", "--wait",
                                 "--timeout", "60"], env=env, capture_output=True, text=True, timeout=90)
        assert status.returncode == 0, status.stdout + status.stderr + "".join(seen)
        assert "SUCCEEDED" in status.stdout
        example = subprocess.run([sys.executable, "-m", "engine.cli", "status", execution_id], env=env,
                                 capture_output=True, text=True, timeout=30)
        assert example.returncode == 0 and execution_id in example.stdout
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 5  # broker, engine, worker, projector, api
        print(f"dev ready after {ready_after:.1f} s with {len(children)} child processes")
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(60)
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {alive}"
    assert not port_open(port) and not port_open(broker_port)
    assert not Path(database[1]).exists(), "the private database directory was left behind"
