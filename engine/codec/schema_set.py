"""Every kept version of a topic's schema, parsed once per process and indexed by fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas


@dataclass(frozen=True)
class SchemaVersion:
    topic: str
    version: int
    source: dict[str, Any]  # the .avsc as written, for registries
    parsed: Any  # fastavro's parsed form
    fingerprint: bytes  # CRC-64-AVRO of the parsing canonical form, little-endian (as single-object encoding has it)


@dataclass(frozen=True)
class SchemaSet:
    topic: str
    versions: tuple[SchemaVersion, ...]

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def by_fingerprint(self, value: bytes) -> SchemaVersion | None:
        for version in self.versions:
            if version.fingerprint == value:
                return version
        return None


@cache
def schema_set(topic: str) -> SchemaSet:
    versions = []
    for number, file in schemas.schema_files(topic):
        source = json.loads(file.read_text(encoding="utf-8"))
        # the canonical form needs the schema as written; reading and writing need it parsed with fastavro's hint,
        # without which fastavro parses the schema again on every record
        canonical = to_parsing_canonical_form(parse_schema(source, _write_hint=False))
        parsed = parse_schema(source)
        versions.append(SchemaVersion(topic, number, source, parsed,
                                      bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))))
    return SchemaSet(topic, tuple(versions))
