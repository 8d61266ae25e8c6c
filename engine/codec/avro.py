"""Avro on the wire: single-object encoding by default, Confluent framing when a registry is configured.

Single-object: C3 01, the 8-byte CRC-64-AVRO fingerprint of the writer schema, then the body.
Confluent: 00, the 4-byte big-endian schema id, then the body. ``decode`` accepts both.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from engine.codec.errors import DecodeError
from engine.codec.registry import RegistryError, SchemaRegistry
from engine.codec.schema_set import SchemaSet, schema_set

SINGLE_OBJECT_MARKER = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class TopicCodec:
    def __init__(self, topic: str, registry: SchemaRegistry | None = None, subject: str | None = None) -> None:
        self.schemas: SchemaSet = schema_set(topic)
        self.registry = registry
        self.subject = subject or f"{topic}-value"

    def encode(self, record: dict[str, Any]) -> bytes:
        latest = self.schemas.latest
        out = io.BytesIO()
        if self.registry is not None:
            out.write(CONFLUENT_MAGIC + struct.pack(">I", self.registry.register(self.subject, latest.source)))
        else:
            out.write(SINGLE_OBJECT_MARKER + latest.fingerprint)
        schemaless_writer(out, latest.parsed, record)
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"expected bytes, got {type(data).__name__}", b"")
        data = bytes(data)
        if data[:2] == SINGLE_OBJECT_MARKER and len(data) >= 10:
            version = self.schemas.by_fingerprint(data[2:10])
            if version is None:
                raise DecodeError(f"unknown schema fingerprint {data[2:10].hex()} for topic {self.schemas.topic}",
                                  data)
            writer, offset = version.parsed, 10
        elif data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            if self.registry is None:
                raise DecodeError("Confluent-framed record but no schema registry is configured", data)
            schema_id = struct.unpack(">I", data[1:5])[0]
            try:
                writer = self.registry.schema(schema_id)
            except RegistryError as exc:
                raise DecodeError(f"writer schema {schema_id}: {exc}", data) from exc
            offset = 5
        else:
            raise DecodeError("not Avro: neither single-object encoding (C3 01) nor Confluent framing (00)", data)
        body = io.BytesIO(data[offset:])
        try:
            record = schemaless_reader(body, writer, self.schemas.latest.parsed, return_record_name=True)
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise DecodeError(f"corrupt Avro body: {type(exc).__name__}: {exc}", data) from exc
        if body.tell() != len(data) - offset:
            raise DecodeError(f"{len(data) - offset - body.tell()} trailing bytes after the Avro body", data)
        if not isinstance(record, dict):
            raise DecodeError("decoded value is not a record", data)
        return record
