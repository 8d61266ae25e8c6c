"""Submit a flow from another service without Kafkaban's library: an ExecutionSubmitted event written with
confluent-kafka and fastavro only, by the rules for other languages (README, "Producing events from another
service"). A Python service would rather use engine.producer (examples/external_producer.py).

    python examples/raw_producer.py BOOTSTRAP [TOPIC_PREFIX] [SCHEMA_FILE]

Prints the execution id. The schema file is schemas/executions.v1.avsc of this repository.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
import uuid

from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form


def submit(bootstrap: str, prefix: str = "kafkaban", schema_file: str = "schemas/executions.v1.avsc") -> str:
    with open(schema_file, encoding="utf-8") as f:
        schema = parse_schema(json.load(f))
    job = {
        "name": "hello", "type": "command", "config": {"command": "echo hello from another service"},
        "depends_on": [], "condition": None, "max_attempts": 1, "backoff_base_ms": 0, "backoff_max_ms": 0,
        "jitter": 0.0, "max_lost": 3, "timeout_ms": None, "lease_ms": 30000, "pool": "default", "cpu": 0.0,
        "memory_mb": 0,
    }
    definition = {"name": "external", "failure_policy": "finish_current", "params": {}, "jobs": [job]}
    # the flow version: sha256 of the definition as canonical JSON (sorted keys, no spaces)
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    execution_id = str(uuid.uuid4())
    event = {
        "event_id": str(uuid.uuid4()),
        "execution_id": execution_id,
        "occurred_at": int(time.time() * 1000),
        "producer": "external",
        "causation_id": None,
        "correlation_id": None,
        "payload": ("kafkaban.executions.ExecutionSubmitted", {
            "flow_name": "external",
            "definition_hash": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(),
            "definition": definition,
            "params": {},
            "submitter": "billing-service",
            "idempotency_key": None,
            "schedule_id": None,
            "logical_time": None,
        }),
    }
    # Avro single-object encoding: C3 01, the schema's CRC-64-AVRO fingerprint (little-endian), the body
    out = io.BytesIO()
    out.write(b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")))
    schemaless_writer(out, schema, event)
    # murmur2 partitioning, as the engine's own clients: all events of an execution share a partition
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    producer.produce(f"{prefix}.executions", key=execution_id.encode(), value=out.getvalue())
    producer.flush(10)
    return execution_id


if __name__ == "__main__":
    print(submit(*sys.argv[1:4]))
