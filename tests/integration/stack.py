"""Runs Kafkaban's parts as real processes on one broker and database, for the integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from engine.broker.embedded import free_port
from engine.client import ApiFailure, call
from engine.config import Settings
from engine.domain.state import EXECUTION_TERMINAL
from engine.kafka import ensure_topics

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, bootstrap: str, database_url: str, log_dir: Path, partitions: int = 3,
                 extra_env: dict[str, str] | None = None) -> None:
        self.prefix = f"t{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.projector_port = free_port()
        self.log_dir = log_dir
        self.token = f"admin-{uuid.uuid4().hex}"  # the bootstrap admin's: every part and the tests present it
        self.env = {
            **os.environ,
            "KAFKABAN_BOOTSTRAP": bootstrap,
            "KAFKABAN_DATABASE_URL": database_url,
            "KAFKABAN_TOPIC_PREFIX": self.prefix,
            "KAFKABAN_PARTITIONS": str(partitions),
            "KAFKABAN_SESSION_TIMEOUT_MS": "6000",
            "KAFKABAN_KILL_GRACE": "2",
            "KAFKABAN_DRAIN_TIMEOUT": "5",
            "KAFKABAN_API_PORT": str(self.port),
            "KAFKABAN_URL": f"http://127.0.0.1:{self.port}",  # workers fetch project archives from the API
            "KAFKABAN_PROJECTOR_PORT": str(self.projector_port),
            "PYTHONUNBUFFERED": "1",
            "KAFKABAN_ADMIN_TOKEN": self.token,
            "KAFKABAN_TOKEN": self.token,  # workers fetch archives with it; jobs never see it
            "KAFKABAN_ENGINE_KEY": f"engine-{uuid.uuid4().hex}",
            "KAFKABAN_ALLOW_ROOT_JOBS": "1",  # CI runs as root; tests of a job user set KAFKABAN_JOB_USER
            "KAFKABAN_JOB_ENV_ALLOW": "PYTHONPATH",
            # python jobs of the tests import tests.integration.jobs
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **(extra_env or {}),
        }
        self.settings = Settings.from_env(self.env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # closed when the process ends
        process = subprocess.Popen([sys.executable, "-m", "engine.cli", *argv], env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes[name] = process
        return process

    def start(self, parts: tuple[str, ...] = ("engine", "projector", "worker", "api")) -> None:
        """Start the parts; with the API among them, return once it answers."""
        if "engine" in parts:
            self.spawn("engine", "engine")
        if "projector" in parts:
            self.spawn("projector", "projector")
        if "worker" in parts:
            self.spawn("worker-default", "worker", "--pool", "default", "--slots", "4")
        if "api" not in parts:
            ensure_topics(self.settings, self.settings.base_topics())
            return
        self.spawn("api", "api")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited while starting:\n{self.log(name)}")
            try:
                call(self.url, "GET", "/healthz", timeout=2, token=self.token)
                return
            except Exception:
                time.sleep(0.2)
        raise TimeoutError("the stack did not start within 60 s")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def logs(self) -> str:
        def state(process: subprocess.Popen[bytes]) -> str:
            code = process.poll()
            return "running" if code is None else f"exited with {code}"  # a negative code is the signal

        return "\n".join(f"--- {name} ({state(process)}) ---\n{self.log(name)}"
                         for name, process in self.processes.items())

    # -- API --------------------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A call as the bootstrap admin, unless ``token`` says otherwise."""
        return call(self.url, method, path, body, **{"token": self.token, **kwargs})

    def register(self, source: str, timeout: float = 60) -> dict[str, Any]:
        """Register, and return once the views hold the flow: an answer past the API's read-your-writes bound says
        ``projected: false`` (seen on a fresh 3-node cluster, the projector not caught up yet), and a submission right
        after it would find no flow."""
        answer = self.api("POST", "/api/v1/flows", raw=source.encode(), content_type="text/yaml")
        deadline = time.monotonic() + timeout
        while not answer["projected"]:
            try:
                self.api("GET", f"/api/v1/flows/{answer['name']}")
                break
            except ApiFailure as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return answer

    def submit(self, flow: str | None = None, definition: str | None = None, **params: str) -> str:
        body: dict[str, Any] = {"params": params}
        if flow:
            body["flow"] = flow
        if definition:
            body["definition"] = definition
        return str(self.api("POST", "/api/v1/executions", body)["execution_id"])

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        try:
            return self.api("GET", f"/api/v1/executions/{execution_id}")
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise

    def wait_for(self, execution_id: str, statuses: set[str] | None = None, timeout: float = 60,
                 job: str | None = None) -> dict[str, Any]:
        """Poll until the execution (or one of its jobs) reaches one of ``statuses`` (default: terminal)."""
        wanted = statuses or EXECUTION_TERMINAL
        deadline = time.monotonic() + timeout
        found: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            found = self.execution(execution_id)
            if found is not None:
                status = found["status"] if job is None else self.job(found, job)["status"]
                if status in wanted:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"{execution_id} did not reach {wanted} in {timeout} s: "
                             f"{json.dumps(found, indent=1)}\n{self.logs()}")

    @staticmethod
    def job(execution: dict[str, Any], name: str) -> dict[str, Any]:
        return next(j for j in execution["jobs"] if j["job"] == name)
