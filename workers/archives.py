"""Project archives on a worker: fetched from the API by their sha256 once, verified, cached on disk, and unpacked
fresh into each attempt's working directory (engine/projects/archive.py refuses anything unsafe again here)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

from engine.projects.archive import ArchiveError, unpack


class ArchiveUnavailable(RuntimeError):
    """The archive cannot be had: the API does not have it, cannot be reached, or sent something else."""


class ArchiveCache:
    def __init__(self, api_url: str, directory: Path, token: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.directory = directory
        self.token = token  # the worker's API token (KAFKABAN_TOKEN): the API serves archives only to a caller it knows
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()
        self.verified: set[str] = set()  # cached files this process has checked: not hashed again per attempt

    def _lock(self, digest: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(digest, threading.Lock())

    def fetch(self, digest: str) -> bytes:
        """The archive's bytes, from the cache or the API; never bytes whose sha256 is not ``digest``."""
        path = self.directory / f"{digest}.zip"
        with self._lock(digest):  # one download per archive, however many attempts want it at once
            if path.exists():
                data = path.read_bytes()
                if digest in self.verified or hashlib.sha256(data).hexdigest() == digest:
                    self.verified.add(digest)
                    return data
                path.unlink()  # damaged in the cache: fetch it again
            request = urllib.request.Request(f"{self.api_url}/api/v1/archives/{digest}")
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    data = answer.read()
            except urllib.error.HTTPError as exc:  # say the status: a 401 or 403 is the worker's token
                raise ArchiveUnavailable(f"archive {digest} could not be fetched from {self.api_url}: "
                                         f"HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise ArchiveUnavailable(f"archive {digest} could not be fetched from {self.api_url}: "
                                         f"{getattr(exc, 'reason', exc)}") from exc
            if hashlib.sha256(data).hexdigest() != digest:
                raise ArchiveUnavailable(f"archive {digest}: the API sent bytes with another sha256")
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)  # whole or absent, for the next reader
            self.verified.add(digest)
            return data

    def unpack_into(self, digest: str, root: Path) -> None:
        try:
            unpack(self.fetch(digest), root, digest)
        except ArchiveError as exc:
            raise ArchiveUnavailable(f"archive {digest} cannot be unpacked: {exc}") from exc
