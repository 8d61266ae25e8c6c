"""The projector's state, for people and probes: whether it is writing or waiting for PostgreSQL, since when, and
how often it failed. Served on KAFKABAN_PROJECTOR_PORT as GET /healthz (200 writing, 503 waiting) and GET /metrics
(Prometheus text), from a thread of its own so a stuck database cannot silence it."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("kafkaban.projector")


class ProjectorHealth:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writing = True
        self.failures = 0
        self.batches = 0
        self.records = 0
        self.last_error: str | None = None
        self.waiting_since: float | None = None

    def applied(self, records: int) -> None:
        with self.lock:
            self.batches += 1
            self.records += records
            if not self.writing:
                log.warning("PostgreSQL is back after %.1f s; writing again", time.monotonic() - (self.waiting_since
                                                                                                  or time.monotonic()))
            self.writing, self.waiting_since = True, None

    def failed(self, error: BaseException) -> None:
        with self.lock:
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}".strip()[:500]
            if self.writing:  # once per outage, not once per retry
                log.error("cannot write to PostgreSQL (%s); retrying with back-off from the last committed "
                          "position", self.last_error)
                self.writing, self.waiting_since = False, time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            waiting = 0.0 if self.waiting_since is None else time.monotonic() - self.waiting_since
            return {"status": "ok" if self.writing else "waiting for PostgreSQL", "writing": self.writing,
                    "failures": self.failures, "batches": self.batches, "records": self.records,
                    "last_error": self.last_error, "waiting_s": round(waiting, 1)}

    def metrics(self) -> str:
        s = self.snapshot()
        return "".join(f"# TYPE kafkaban_projector_{name} {kind}\nkafkaban_projector_{name} {value}\n"
                       for name, kind, value in (("up", "gauge", int(s["writing"])),
                                                 ("failures_total", "counter", s["failures"]),
                                                 ("batches_total", "counter", s["batches"]),
                                                 ("records_total", "counter", s["records"]),
                                                 ("waiting_seconds", "gauge", s["waiting_s"])))

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    snapshot = health.snapshot()
                    self._answer(200 if snapshot["writing"] else 503, "application/json",
                                 json.dumps(snapshot).encode())
                elif self.path == "/metrics":
                    self._answer(200, "text/plain; version=0.0.4", health.metrics().encode())
                else:
                    self._answer(404, "application/json", b'{"error": {"status": 404, "message": "not found"}}')

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would drown the log

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, name="projector-health", daemon=True).start()
        return server
