"""`kafkaban dev`: broker, database, engine, one worker pool, projector and API in one command.

Unless KAFKABAN_BOOTSTRAP is set it starts Apache Kafka (KRaft, one node) and unless KAFKABAN_DATABASE_URL is set
a private PostgreSQL, both keeping their data in the stack's data directory, so a stopped and restarted stack still
has every flow, execution and its history. One stack at a time may use a data directory (a lock file holds it).
The parts run as child processes with prefixed logs; Ctrl-C or SIGTERM stops every one of them, and a child
whose parent dies is ended by the kernel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import IO, Any

from engine.broker.embedded import EmbeddedPostgres, port_free, start_postgres
from engine.broker.local import LocalBroker, start_local_broker
from engine.client import ApiFailure, ApiUnreachable, call
from engine.config import ConfigError, Settings, without_password
from engine.dev_tokens import forget, remember
from engine.domain.state import EXECUTION_TERMINAL
from engine.polling import poll_until
from engine.processes import die_with_parent

DATA_PARTS = ("kafka", "postgres")  # what a data directory holds besides its lock file
PARTS = [("engine", ["engine"]), ("worker", ["worker", "--pool", "default", "--slots", "4"]),
         ("projector", ["projector"]), ("api", ["api"])]


# what the parts print that a dev stack's user can do nothing about, so it is not passed on
QUIET = (
    # librdkafka, while a just-started broker's transaction coordinator loads: the producer retries until it can
    re.compile(r"Failed to acquire idempotence PID.*retrying"),
    # faust-streaming, at a rebalance whose start its sensors were not told of: nothing is lost
    re.compile(r"Missing sensor state for rebalance"),
)


def shown(line: str) -> bool:
    """Whether a line a part printed is passed on to the dev stack's output."""
    return not any(pattern.search(line) for pattern in QUIET)


def _pump(name: str, stream: IO[bytes], width: int) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        if shown(line):
            sys.stdout.write(f"{name:<{width}} | {line}")
            sys.stdout.flush()


def say(progress: str) -> None:
    """A step of starting the stack, as it happens: a first start takes seconds before the API answers."""
    print(f"kafkaban dev: {progress}", flush=True)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


def dev_secrets(data_dir: Path) -> dict[str, str]:
    """The stack's engine key and admin token: made at random on first start, then kept in the data directory
    (mode 0600) so a restarted stack still reads the events it signed and its token still works."""
    path = data_dir / "secrets.json"
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(kept, dict) and kept.get("engine_key") and kept.get("admin_token"):
            return {"engine_key": str(kept["engine_key"]), "admin_token": str(kept["admin_token"])}
    except (OSError, ValueError):
        pass
    made = {"engine_key": secrets.token_hex(32), "admin_token": f"kbdev_{secrets.token_urlsafe(32)}"}
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(made, handle)
    os.chmod(path, 0o600)
    return made


def job_user_env() -> dict[str, str]:
    """A dev stack started as root runs its jobs as `nobody`, unless told otherwise: a job is code from whoever
    could submit it."""
    if os.geteuid() != 0 or os.environ.get("KAFKABAN_JOB_USER") or os.environ.get("KAFKABAN_ALLOW_ROOT_JOBS"):
        return {}
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return {}
    return {"KAFKABAN_JOB_USER": "nobody"}


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kafkaban" / "dev"


class DataDirLock:
    """An exclusive lock on a data directory for the life of one dev stack (released by the kernel if it dies)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self.directory / "dev.lock"

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # held open for the life of the stack
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(f"another kafkaban dev (pid {holder}) is using the data directory {self.directory}; "
                              f"stop it first, or give this one its own --data-dir") from None
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.file = handle

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class DevStack:
    def __init__(self, settings: Settings, port: int, data_dir: Path, fresh: bool = False) -> None:
        self.settings = settings
        self.port = port
        self.data_dir = data_dir
        self.fresh = fresh
        self.lock = DataDirLock(data_dir)
        self.broker: LocalBroker | None = None
        self.database: EmbeddedPostgres | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self) -> Settings:
        if not port_free(self.port):
            raise ConfigError(f"port {self.port} is already in use on 127.0.0.1: stop what listens there or choose "
                              f"another with --port")
        # --fresh deletes only in a directory a dev stack has used (it has our lock file) or an empty one
        if self.fresh and self.data_dir.exists() and not self.lock.path.exists() and any(self.data_dir.iterdir()):
            raise ConfigError(f"{self.data_dir} is not a kafkaban dev data directory (no dev.lock in it): --fresh "
                              f"deletes nothing there; choose a directory of its own with --data-dir")
        self.lock.acquire()
        if self.fresh:
            for part in DATA_PARTS:
                shutil.rmtree(self.data_dir / part, ignore_errors=True)
        settings = self.settings
        client_env: dict[str, str] = {}
        if not settings.bootstrap:
            say(f"starting the broker (data in {self.data_dir / 'kafka'}) ...")
            started = time.monotonic()
            self.broker = start_local_broker(self.data_dir / "kafka")
            client_env = self.broker.client_env
            settings = settings.with_(bootstrap=self.broker.bootstrap)
            kind = "Apache Kafka" if self.broker.kind == "kafka" else self.broker.kind
            say(f"broker ready: {kind} at {self.broker.bootstrap} ({_since(started)})")
        else:
            say(f"broker: {settings.bootstrap} (KAFKABAN_BOOTSTRAP)")
        if not settings.database_url:
            # with a broker that forgets its log (tansu), views kept from an earlier run would not match it
            keep = self.broker is None or self.broker.kind == "kafka"
            say("starting PostgreSQL ...")
            started = time.monotonic()
            self.database = start_postgres(self.data_dir / "postgres" if keep else None)
            settings = settings.with_(database_url=self.database.url)
            say(f"database ready ({_since(started)})")
        else:
            say("database: KAFKABAN_DATABASE_URL")
        kept = dev_secrets(self.data_dir)
        settings = settings.with_(api_port=self.port, api_url=f"http://127.0.0.1:{self.port}",
                                  engine_key=settings.engine_key or kept["engine_key"],
                                  admin_token=settings.admin_token or kept["admin_token"])
        env = {**os.environ, **client_env, **job_user_env(), "KAFKABAN_BOOTSTRAP": settings.bootstrap or "",
               "KAFKABAN_ENGINE_KEY": settings.engine_key or "", "KAFKABAN_ADMIN_TOKEN": settings.admin_token or "",
               "KAFKABAN_TOKEN": settings.admin_token or "",
               "KAFKABAN_DATABASE_URL": settings.database_url or "",
               "KAFKABAN_API_PORT": str(self.port), "KAFKABAN_URL": settings.api_url,
               "KAFKABAN_API_HOST": settings.api_host, "KAFKABAN_DEV_STACK": "1",
               "KAFKABAN_SESSION_TIMEOUT_MS": os.environ.get("KAFKABAN_SESSION_TIMEOUT_MS", "6000"),
               "PYTHONUNBUFFERED": "1"}
        width = max(len(name) for name, _ in PARTS)
        for name, argv in PARTS:
            child = subprocess.Popen([sys.executable, "-m", "engine.cli", *argv], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
            assert child.stdout is not None
            threading.Thread(target=_pump, args=(name, child.stdout, width), daemon=True).start()
            self.children.append((name, child))
            say(f"{name} started (pid {child.pid})")
        self.settings = settings
        remember(settings.api_url, settings.admin_token or "", settings.engine_key or "")
        return settings

    def wait_ready(self, timeout: float = 90.0) -> None:
        say(f"waiting for the API to answer at {self.settings.api_url} ...")
        started = time.monotonic()

        def answering() -> bool | None:
            for name, child in self.children:
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {child.returncode} while starting")
            with contextlib.suppress(ApiUnreachable, ApiFailure):
                call(self.settings.api_url, "GET", "/healthz", timeout=2, token=self.settings.admin_token)
                return True
            return None

        if poll_until(answering, timeout, every=0.2) is None:
            raise TimeoutError(f"the API did not answer within {timeout:g} s")
        say(f"API answering ({_since(started)})")

    def stop(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, child in self.children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        forget(self.settings.api_url)
        if self.broker:
            self.broker.stop()
        if self.database:
            self.database.stop()
        self.lock.release()


def submit_example(settings: Settings) -> str:
    """Register the example flow and run it; its execution's id."""
    source = resources.files("engine").joinpath("examples/hello.yaml").read_bytes()
    token = settings.admin_token
    flow = call(settings.api_url, "POST", "/api/v1/flows?name=hello", raw=source, content_type="text/yaml",
                token=token)
    # submitted with its definition inline: a projector still catching up must not turn the example into a 404
    answer = call(settings.api_url, "POST", "/api/v1/executions",
                  {"flow": flow["name"], "definition": source.decode()}, token=token)
    print(f"example flow {flow['name']!r} registered and submitted: execution {answer['execution_id']}")
    print(f"  follow it with: KAFKABAN_URL={settings.api_url} kafkaban status {answer['execution_id']}")
    sys.stdout.flush()
    return str(answer["execution_id"])


def report_example(settings: Settings, execution_id: str, stopping: threading.Event, timeout: float = 300.0) -> None:
    """Say how the example ended, once it has: a new user otherwise never learns whether the stack works."""
    started = time.monotonic()
    while not stopping.wait(0.25):
        try:
            found = call(settings.api_url, "GET", f"/api/v1/executions/{execution_id}", timeout=5,
                         token=settings.admin_token)
        except ApiFailure as exc:
            if exc.status == 404:  # not projected yet
                continue
            print(f"kafkaban dev: the example's status is unreadable: {exc}", file=sys.stderr)
            return
        except ApiUnreachable:
            return  # the stack is stopping
        if found["status"] in EXECUTION_TERMINAL:
            print(f"example hello: {found['status']} in {_since(started)} (execution {execution_id})", flush=True)
            return
        if time.monotonic() - started > timeout:
            print(f"example hello: still {found['status']} after {timeout:g} s (execution {execution_id})",
                  flush=True)
            return


def run(settings: Settings, port: int, data_dir: Path | None = None, fresh: bool = False,
        example: bool = False) -> int:
    stack = DevStack(settings, port, data_dir or default_data_dir(), fresh)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if not ready.is_set():
            raise KeyboardInterrupt  # while starting (resolving the broker, waiting for it): stop at once
        stopping.set()

    ready = threading.Event()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        try:
            settings = stack.start()
            stack.wait_ready()
        except KeyboardInterrupt:
            print("kafkaban dev: interrupted while starting; stopped what had started", file=sys.stderr)
            return 130
        except (RuntimeError, TimeoutError) as exc:  # the broker or a part did not come up: say why, plainly
            print(f"kafkaban dev: could not start: {exc}", file=sys.stderr)
            return 1
        ready.set()
        print(f"kafkaban dev is ready in {time.monotonic() - started:.1f} s")
        print(f"  API:         {settings.api_url}   (docs: {settings.api_url}/docs, OpenAPI: "
              f"{settings.api_url}/openapi.json)")
        print(f"  token:       {settings.admin_token}   (the admin's; the CLI of this user finds it by itself)")
        print(f"  UI:          {settings.api_url}/   (log in with the token above)")
        print(f"  bootstrap:   {settings.bootstrap}")
        print(f"  database:    {without_password(settings.database_url or '')}")
        print(f"  broker:      {stack.broker.describe() if stack.broker else 'external'}")
        print(f"  data:        {stack.data_dir}")
        print("  stop with Ctrl-C")
        sys.stdout.flush()
        if example:
            try:
                example_id = submit_example(settings)
            except (ApiUnreachable, ApiFailure) as exc:  # the stack is up; only the example is missing
                print(f"kafkaban dev: the example was not submitted: {exc}", file=sys.stderr)
            else:  # watched beside the loop below, which must keep noticing a part that exits
                threading.Thread(target=report_example, args=(settings, example_id, stopping), daemon=True).start()
        while not stopping.wait(0.5):
            for name, child in stack.children:
                if child.poll() is not None:
                    print(f"{name} exited with code {child.returncode}; stopping", file=sys.stderr)
                    return 1
        return 0
    finally:
        stack.stop()
