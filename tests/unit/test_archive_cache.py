"""A worker fetches project archives from the API with its token, and says the status when the API refuses."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.archives import ArchiveCache, ArchiveUnavailable

DATA = b"archive bytes"
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def api() -> Iterator[tuple[str, list[str | None]]]:
    """A real HTTP server that serves the archive only to the bearer of token ``t-1``."""
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            allowed = self.headers.get("Authorization") == "Bearer t-1"
            self.send_response(200 if allowed else 401)
            self.end_headers()
            if allowed:
                self.wfile.write(DATA)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_presents_its_token(api: tuple[str, list[str | None]], tmp_path: Path):
    url, seen = api
    assert ArchiveCache(url, tmp_path / "a", "t-1").fetch(DIGEST) == DATA
    assert seen == ["Bearer t-1"]


def test_without_a_token_the_refusal_says_its_status(api: tuple[str, list[str | None]], tmp_path: Path):
    url, seen = api
    with pytest.raises(ArchiveUnavailable, match="HTTP 401 Unauthorized"):
        ArchiveCache(url, tmp_path / "b").fetch(DIGEST)
    assert seen == [None]
