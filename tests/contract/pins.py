"""What pins a released schema file: the fingerprint records carry, and the digest of everything else that
decides how its records are read.

    python -m tests.contract.pins            prints the pins of every file in schemas/, for released_schemas.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas

PINS_FILE = Path(__file__).with_name("released_schemas.json")


def _without_docs(schema: Any) -> Any:
    """The schema minus its "doc" strings: they are the one thing a released file may still change."""
    if isinstance(schema, list):
        return [_without_docs(item) for item in schema]
    if isinstance(schema, dict):
        return {key: value if key == "default" else _without_docs(value)
                for key, value in schema.items() if key != "doc"}
    return schema


def pin(source: dict[str, Any]) -> dict[str, str]:
    """``fingerprint``: CRC-64-AVRO of the parsing canonical form, as the 8 bytes after C3 01 (hex). The
    canonical form drops defaults, logical types and aliases, which change how old records read, so
    ``reading_sha256`` covers the whole schema except its docs."""
    canonical = to_parsing_canonical_form(parse_schema(source, _write_hint=False))
    whole = json.dumps(_without_docs(source), sort_keys=True, separators=(",", ":"))
    return {"fingerprint": fingerprint(canonical, "CRC-64-AVRO"),
            "reading_sha256": hashlib.sha256(whole.encode()).hexdigest()}


def current_pins() -> dict[str, dict[str, str]]:
    """The pins of every .avsc file in the package's directory, by file name (whether the codec reads it or not)."""
    return {file.name: pin(json.loads(file.read_text(encoding="utf-8")))
            for file in sorted(Path(schemas.__file__).parent.glob("*.avsc"))}


def released_pins() -> dict[str, dict[str, str]]:
    return json.loads(PINS_FILE.read_text(encoding="utf-8"))


if __name__ == "__main__":
    json.dump(current_pins(), sys.stdout, indent=2)
    print()
