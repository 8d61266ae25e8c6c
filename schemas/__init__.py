"""Avro schemas of Kafkaban's topics, one ``<topic>.v<N>.avsc`` file per topic and version.

A package of its own so the files ship inside the wheel and are found after a plain ``pip install``.
Released versions are never edited: a change is a new file with the next version number.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

TOPICS = ("executions", "dispatch", "heartbeats", "control", "definitions", "schedules", "logs", "access")


def schema_files(topic: str) -> list[tuple[int, Traversable]]:
    """Every kept version of ``topic``'s schema, oldest first, as (version, file)."""
    found: list[tuple[int, Traversable]] = []
    for entry in resources.files(__name__).iterdir():
        stem, _, ext = entry.name.rpartition(".")
        if ext != "avsc":
            continue
        name, _, version = stem.rpartition(".v")
        if name == topic and version.isdigit():
            found.append((int(version), entry))
    if not found:
        raise LookupError(f"no schema for topic {topic!r} in the schemas package")
    return sorted(found, key=lambda pair: pair[0])
