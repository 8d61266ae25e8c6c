"""How the views hold a NUL character: PostgreSQL text and jsonb cannot, the log can (a param value, a cancel reason,
a line of a job's output, an id produced straight to Kafka). Every string a view stores has NUL replaced by U+2400
SYMBOL FOR NULL, visible where it was; the log keeps the original, and ``kafkaban history`` reads it from there.

Done once, in the connection's adapters, so that no writer can forget it."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.types.json import set_json_dumps
from psycopg.types.string import StrBinaryDumper, StrDumper, StrDumperUnknown

NUL = "\x00"
SHOWN_AS = "\u2400"


def clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, SHOWN_AS)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    text = json.dumps(value)
    # json writes NUL as \\u0000; a literal backslash before "u0000" also matches, and then cleaning is harmless
    return json.dumps(clean(value)) if "\\u0000" in text else text


def _safe(base: type[Dumper]) -> type[Dumper]:
    class NulSafe(base):  # type: ignore[valid-type, misc]
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace(NUL, SHOWN_AS) if NUL in obj else obj)

    NulSafe.__name__ = f"NulSafe{base.__name__}"
    return NulSafe


# in psycopg's own order: the last one registered is the default (text of unknown type, which casts implicitly);
# the ones before it are looked up by oid (text[] elements, binary copies)
DUMPERS = [_safe(d) for d in (StrBinaryDumper, StrDumper, StrDumperUnknown)]


def nul_safe(conn: psycopg.Connection) -> psycopg.Connection:
    for dumper in DUMPERS:
        conn.adapters.register_dumper(str, dumper)
    set_json_dumps(dumps, context=conn)
    return conn
