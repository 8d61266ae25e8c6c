"""A small Confluent Schema Registry client: register the writer schema once, look up ids it does not know."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from fastavro import parse_schema


class RegistryError(RuntimeError):
    pass


class SchemaRegistry:
    """Talks the registry's REST API (``/subjects/<subject>/versions``, ``/schemas/ids/<id>``); caches answers."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryError(f"schema registry {method} {path} failed: {exc}") from exc

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of ``schema`` under ``subject``, registering it the first time."""
        key = subject + "\0" + json.dumps(schema, sort_keys=True)
        with self._lock:
            if key not in self._ids:
                answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
                self._ids[key] = int(answer["id"])
            return self._ids[key]

    def schema(self, schema_id: int) -> Any:
        """The parsed writer schema with ``schema_id``."""
        with self._lock:
            if schema_id not in self._schemas:
                answer = self._call("GET", f"/schemas/ids/{schema_id}")
                self._schemas[schema_id] = parse_schema(json.loads(answer["schema"]))  # hinted: parsed once
            return self._schemas[schema_id]
