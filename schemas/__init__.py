"""Avro schemas of Kafkaban's topics, one ``<topic>.v<N>.avsc`` file per topic and version.

A package of its own so the files ship inside the wheel and are found after a plain ``pip install``.
Released versions are never edited: a change is a new file with the next version number.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

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


def current_version(topic: str) -> int:
    """The version Kafkaban writes ``topic``'s records with: the highest kept one."""
    return schema_files(topic)[-1][0]


def path(name: str) -> Path:
    """The file of a schema, for programs that read .avsc files (other languages' producers, registries).

    ``name`` is ``TOPIC.vN`` (``.avsc`` may follow) for a version, or ``TOPIC`` for its current version.
    """
    topic, _, version = name.removesuffix(".avsc").partition(".v")
    kept = dict(schema_files(topic))
    number = max(kept) if not version else int(version) if version.isdigit() else -1
    if number not in kept:
        raise LookupError(f"no schema {name!r}: {topic} has versions {sorted(kept)}")
    entry = kept[number]
    if not isinstance(entry, Path):  # only an installation from a zip has no file on disk to name
        raise LookupError(f"schema {name!r} is not a file on disk here ({entry!r})")
    return entry
