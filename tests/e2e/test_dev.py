"""`kafkaban dev`: one command starts everything on Apache Kafka, keeps its data across a restart, refuses a
second stack on the same data directory, and SIGTERM leaves nothing running."""

from __future__ import annotations

import contextlib
import json
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

from engine.broker.embedded import free_port
from engine.dev_tokens import runtime_file
from tests.support.browser import Console, chromium, shoot

ROOT = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    drained = []
    with contextlib.suppress(queue.Empty):
        while True:
            drained.append(lines.get(timeout=1))
    return drained


class Dev:
    """A `kafkaban dev` process and the lines it prints."""

    def __init__(self, port: int, data_dir: Path, *extra: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in ("KAFKABAN_BOOTSTRAP", "KAFKABAN_DATABASE_URL")}
        self.env["KAFKABAN_URL"] = f"http://127.0.0.1:{port}"
        # run from another directory, it must still import the code under test
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.started = time.monotonic()
        self.cwd = data_dir.parent  # where a user would type the command: dev must leave nothing there
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "dev", "--port", str(port), "--data-dir", str(data_dir), *extra],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "dev exited:\n" + "".join(self.seen)
                continue
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n" + "".join(self.seen))

    def ready(self) -> dict[str, str]:
        self.wait_line(r"kafkaban dev is ready in", 120)
        return {"token": self.wait_line(r"token:\s+(\S+)", 5)[1],
                "bootstrap": self.wait_line(r"bootstrap:\s+(\S+)", 5)[1],
                "database": self.wait_line(r"database:\s+(\S+)", 5)[1],
                "broker": self.wait_line(r"broker:\s+(.+)", 5)[1]}

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli", *argv], env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)

    def stop(self) -> list[psutil.Process]:
        if self.process.poll() is not None:  # it ended on its own: say what it printed, not that it is gone
            self.seen.extend(iter_queue(self.lines))
            raise AssertionError(f"dev exited with {self.process.returncode}:\n" + "".join(self.seen))
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        _gone, alive = psutil.wait_procs(children, timeout=15)
        assert alive == [], f"left running: {alive}"
        self.seen.extend(iter_queue(self.lines))
        printed = "".join(self.seen)
        # what dev prints is for people: no terminal escapes, no library warnings, none of the parts' noise
        assert "\x1b[" not in printed and not re.search(r"\w+Warning\b", printed), printed
        assert "idempotence PID" not in printed and "Missing sensor state" not in printed, printed
        assert list(self.cwd.glob("*-engine-data")) == []
        return children


def seen_in_browser(ui: str, token: str, example_id: str) -> None:
    """What a new user does with the URL and token dev printed: log in, find the example run, see its DAG and a log."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(60_000)
        console = Console()
        console.watch(page)
        page.goto(ui)
        page.fill("#token-login input[name=token]", token)
        page.click("#token-login button[type=submit]")
        page.click(f"table [data-execution='{example_id}'] a")
        page.wait_for_function("() => document.querySelectorAll('.graph .node[data-status=SUCCEEDED]').length === 4")
        page.click("table [data-job=greet] button")
        page.wait_for_function("() => (document.querySelector('pre.log') || {}).textContent?.includes('hello, world')")
        shoot(page, "dev-example")
        assert not console.errors, console.errors


def test_dev_runs_on_kafka_keeps_its_data_across_a_restart_and_stops_cleanly(tmp_path: Path):
    port, data = free_port(), tmp_path / "dev-data"
    dev = Dev(port, data, "--example")
    try:
        # each part says it started as it does, long before the stack is ready
        dev.wait_line(r"kafkaban dev: starting the broker", 30)
        dev.wait_line(r"kafkaban dev: broker ready: Apache Kafka at 127\.0\.0\.1:\d+", 120)
        dev.wait_line(r"kafkaban dev: database ready", 60)
        for part in ("engine", "worker", "projector", "api"):
            dev.wait_line(rf"kafkaban dev: {part} started \(pid \d+\)", 30)
        dev.wait_line(r"kafkaban dev: API answering", 120)
        found = dev.ready()
        # the banner, which ready() read: the web UI's address after the token it logs in with
        assert re.search(rf"token:.*\n  UI:\s+http://127\.0\.0\.1:{port}/\s+\(log in with the token above\)",
                         "".join(dev.seen)), "".join(dev.seen)
        assert found["broker"].startswith("Apache Kafka 4."), found
        print(f"dev ready after {time.monotonic() - dev.started:.1f} s")
        # its secrets are its own, made on first start and readable by this user only; the CLI of a second shell
        # finds the token without KAFKABAN_TOKEN, and a wrong one is refused
        assert "KAFKABAN_TOKEN" not in dev.env
        assert (data / "secrets.json").stat().st_mode & 0o777 == 0o600
        assert json.loads((data / "secrets.json").read_text())["admin_token"] == found["token"]
        assert runtime_file().stat().st_mode & 0o777 == 0o600
        wrong = dev.cli("executions", env={"KAFKABAN_TOKEN": "kbt_0000000000000000_" + "x" * 43})
        assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr, wrong.stderr
        example_id = dev.wait_line(r"execution ([0-9a-f-]{36})", 30)[1]
        ended = dev.wait_line(r"example hello: (\w+) in [\d.]+ s \(execution ([0-9a-f-]{36})\)", 60)
        assert ended.groups() == ("SUCCEEDED", example_id)
        ui = re.search(r"UI:\s+(\S+)", "".join(dev.seen))[1]  # type: ignore[index]
        seen_in_browser(ui, found["token"], example_id)
        done = dev.cli("submit", "hello", "-p", "who=tests", "--wait", "--timeout", "60", "--json")
        assert done.returncode == 0, done.stdout + done.stderr + "".join(dev.seen)
        submitted = json.loads(done.stdout)
        assert submitted["status"] == "SUCCEEDED"
        children = psutil.Process(dev.process.pid).children(recursive=True)
        assert len(children) >= 5  # broker, engine, worker, projector, api (and PostgreSQL)

        # a second stack on the same data directory is refused, and changes nothing
        second = subprocess.run([sys.executable, "-m", "engine.cli", "dev", "--port", str(free_port()),
                                 "--data-dir", str(data)], env=dev.env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "another kafkaban dev" in second.stderr and str(data) in second.stderr
        # and so is a stack on a port already in use, before it starts anything
        busy = subprocess.run([sys.executable, "-m", "engine.cli", "dev", "--port", str(port), "--data-dir",
                               str(tmp_path / "other")], env=dev.env, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and f"port {port} is already in use" in busy.stderr
        assert not (tmp_path / "other" / "kafka").exists()
    finally:
        broker_port = int(found["bootstrap"].rsplit(":", 1)[1]) if "found" in locals() else None
        dev.stop()
    assert not port_open(port) and broker_port and not port_open(broker_port)

    # restarted on the same data directory: every execution and its history are still there
    dev = Dev(port, data)
    try:
        assert dev.ready()["token"] == found["token"]  # the same secrets: its signed events still read
        for execution_id in (example_id, submitted["execution_id"]):
            status = dev.cli("status", execution_id, "--json")
            assert status.returncode == 0, status.stdout + status.stderr
            assert json.loads(status.stdout)["status"] == "SUCCEEDED"
        # only KAFKABAN_URL is set: the log-reading commands ask the dev stack where its broker and database are
        history = dev.cli("history", submitted["execution_id"], "--from-kafka", "--json")
        assert history.returncode == 0, history.stderr
        assert "ExecutionSucceeded" in history.stdout
        verify = dev.cli("replay", "verify", "--json")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert json.loads(verify.stdout)["executions"] >= 2
        again = dev.cli("submit", "hello", "-p", "who=again", "--wait", "--timeout", "60")
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        dev.stop()

    # --fresh starts empty: once a new execution is listed (the views have caught up), it is the only one, and
    # the old ones are gone from the log too
    dev = Dev(port, data, "--fresh", "--example")
    try:
        found = dev.ready()
        fresh_example = dev.wait_line(r"execution ([0-9a-f-]{36})", 30)[1]
        new = dev.cli("submit", "hello", "-p", "who=fresh", "--wait", "--timeout", "60", "--json")
        assert new.returncode == 0, new.stdout + new.stderr
        listed = dev.cli("executions", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {e["execution_id"] for e in json.loads(listed.stdout)["executions"]} == {
            fresh_example, json.loads(new.stdout)["execution_id"]}
        old = dev.cli("history", example_id, "--from-kafka", "--json", env={"KAFKABAN_BOOTSTRAP": found["bootstrap"]})
        assert "ExecutionSubmitted" not in old.stdout
    finally:
        dev.stop()


def test_fresh_deletes_nothing_in_a_directory_that_is_not_a_dev_data_directory(tmp_path: Path):
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "keep.txt").write_text("not ours")
    refused = subprocess.run([sys.executable, "-m", "engine.cli", "dev", "--port", str(free_port()), "--data-dir",
                              str(tmp_path), "--fresh"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not a kafkaban dev data directory" in refused.stderr
    assert (tmp_path / "kafka" / "keep.txt").read_text() == "not ours"
