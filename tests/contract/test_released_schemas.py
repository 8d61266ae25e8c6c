"""The schemas are a contract with producers in other languages: every released version (pinned in
released_schemas.json) stays as it was, and a record written with it is still read, by the project's own decoder,
as the record it was (README, "Schemas: the public contract").

The records are written with fastavro straight from each released file, framed as another producer frames them,
not with Kafkaban's encoder (which only writes the current version).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

import schemas
from engine.codec import codec, decode_event, event_to_record
from engine.codec.avro import SINGLE_OBJECT_MARKER
from engine.domain import events as ev
from engine.domain.spec import FlowSpec, JobSpec, RetryPolicy
from tests.contract.pins import current_pins, pin, released_pins

RELEASED = released_pins()
SCHEMA_DIR = Path(schemas.__file__).parent  # the files themselves, not the codec's list of the versions it reads
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _topic_and_version(name: str) -> tuple[str, int]:
    topic, _, version = name.removesuffix(".avsc").partition(".v")
    return topic, int(version)


# -- released files are never edited ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(set(RELEASED) | set(current_pins())))
def test_a_released_schema_is_never_edited_dropped_or_left_unpinned(name: str):
    current, released = current_pins().get(name), RELEASED.get(name)
    topic, version = _topic_and_version(name)
    if released is None:
        pytest.fail(f"schemas/{name} is not pinned. When it is released (committed), add this entry to "
                    f"tests/contract/released_schemas.json (`python -m tests.contract.pins` prints them all):\n"
                    f'  "{name}": {json.dumps(current)}')
    if current is None:
        pytest.fail(f"schemas/{name} was released and is gone: records written with it stay in the log and every "
                    f"released version must stay in schemas/ and readable. Restore it.")
    if current != released:
        pytest.fail(f"schemas/{name} was edited in place ({released} -> {current}). A released schema is never "
                    f"changed, only its docs: records written with it carry its fingerprint and are read with "
                    f"it. Restore the file and put the change in a new version, "
                    f"schemas/{topic}.v{schemas.current_version(topic) + 1}.avsc (the current version plus the "
                    f"change, readable as the reader of every older one).")
    assert version in dict(schemas.schema_files(topic)), f"the codec does not read schemas/{name}"


# -- every released version still reads -------------------------------------------------------------------------

@dataclass
class _Names:
    """Named types of a schema, by full name, so that a schema can be walked with every reference expanded."""

    named: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expand(self, schema: Any, namespace: str = "") -> Any:
        if isinstance(schema, list):
            return [self.expand(branch, namespace) for branch in schema]
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            return self.named[schema if "." in schema else f"{namespace}.{schema}"]
        if schema["type"] in ("record", "enum", "fixed"):
            space = schema.get("namespace", namespace)
            full = schema["name"] if "." in schema["name"] else f"{space}.{schema['name']}"
            out: dict[str, Any] = {**schema, "fullname": full}
            self.named[full] = out
            if schema["type"] == "record":
                out["fields"] = [{**f, "type": self.expand(f["type"], space)} for f in schema["fields"]]
            return out
        if schema["type"] == "array":
            return {**schema, "items": self.expand(schema["items"], namespace)}
        if schema["type"] == "map":
            return {**schema, "values": self.expand(schema["values"], namespace)}
        return schema


def _expanded(source: dict[str, Any]) -> dict[str, Any]:
    return _Names().expand(source)


def _sample(schema: Any, seen: count) -> Any:
    """A value of ``schema`` with every field set, each value distinct (a field read into another shows); a union
    takes its last branch, the non-null one."""
    if isinstance(schema, list):
        branch = schema[-1]
        value = _sample(branch, seen)
        return (branch["fullname"], value) if isinstance(branch, dict) and branch["type"] == "record" else value
    kind = schema if isinstance(schema, str) else schema["type"]
    n = next(seen)
    if isinstance(schema, dict):
        if kind == "record":
            return {f["name"]: _sample(f["type"], seen) for f in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][n % len(schema["symbols"])]
        if kind == "array":
            return [_sample(schema["items"], seen), _sample(schema["items"], seen)]
        if kind == "map":
            return {f"k{n}": _sample(schema["values"], seen)}
        if schema.get("logicalType") == "uuid":
            return str(uuid.UUID(int=n))
        if schema.get("logicalType") == "timestamp-millis":
            return 1_700_000_000_000 + n
    return {"string": f"s{n}", "int": n, "long": 10_000_000_000 + n, "double": n + 0.25, "float": n + 0.5,
            "boolean": n % 2 == 0, "null": None, "bytes": bytes([n % 256])}[kind]


def _same_type(writer: Any, reader: Any) -> bool:
    w = writer if isinstance(writer, str) else writer["type"]
    r = reader if isinstance(reader, str) else reader["type"]
    if isinstance(writer, dict) and isinstance(reader, dict) and w in ("record", "enum", "fixed"):
        return bool(writer["name"].rsplit(".", 1)[-1] == reader["name"].rsplit(".", 1)[-1])
    promotions = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
                  "string": {"bytes"}, "bytes": {"string"}}
    return bool(w == r or r in promotions.get(w, ()))


def _resolved(value: Any, writer: Any, reader: Any) -> Any:
    """``value`` written with ``writer`` as Avro's schema resolution reads it with ``reader``: what the decoder is
    expected to give. Fields only the reader has take its default; fields only the writer has are dropped."""
    if isinstance(writer, list):
        if isinstance(value, tuple):
            writer = next(b for b in writer if isinstance(b, dict) and b.get("fullname") == value[0])
            value = value[1]
        else:
            writer = writer[-1] if value is not None else "null"
    if isinstance(reader, list):
        branch = next((b for b in reader if _same_type(writer, b)), None)
        assert branch is not None, f"the reader's union {reader} has no branch for {writer}"
        out = _resolved(value, writer, branch)
        return (branch["fullname"], out) if isinstance(branch, dict) and branch["type"] == "record" else out
    kind = reader if isinstance(reader, str) else reader["type"]
    if kind == "record":
        written = {f["name"]: f for f in writer["fields"]}
        out = {}
        for f in reader["fields"]:
            names = [f["name"], *f.get("aliases", ())]
            source = next((written[n] for n in names if n in written), None)
            if source is None:
                assert "default" in f, f"{reader['name']}.{f['name']} is new without a default"
                out[f["name"]] = f["default"]
            else:
                out[f["name"]] = _resolved(value[source["name"]], source["type"], f["type"])
        return out
    if kind == "array":
        return [_resolved(item, writer["items"], reader["items"]) for item in value]
    if kind == "map":
        return {key: _resolved(item, writer["values"], reader["values"]) for key, item in value.items()}
    if kind == "enum":
        assert value in reader["symbols"] or "default" in reader, f"{value} is not a symbol of {reader['name']}"
        return value if value in reader["symbols"] else reader["default"]
    return value


def _plain(value: Any) -> Any:
    """The decoder's logical-type values as written: uuid as str, timestamps as UTC ms."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return round(value.timestamp() * 1000)
    return value


def single_object(source: dict[str, Any], record: dict[str, Any]) -> bytes:
    """``record`` written with ``source`` as another producer writes it: C3 01, the fingerprint, the body."""
    out = io.BytesIO()
    out.write(SINGLE_OBJECT_MARKER + bytes.fromhex(pin(source)["fingerprint"]))
    schemaless_writer(out, parse_schema(source), record)
    return out.getvalue()


def _released_payloads() -> list[tuple[str, str]]:
    """(file, payload type) of every released file still there (the test above fails for one that is not)."""
    return [(name, branch["name"]) for name in sorted(RELEASED) if (SCHEMA_DIR / name).exists()
            for branch in json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))["fields"][-1]["type"]]


@pytest.mark.parametrize(("name", "payload"), _released_payloads())
def test_a_record_of_every_released_version_reads_as_written(name: str, payload: str):
    topic, _ = _topic_and_version(name)
    source = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    assert pin(source) == RELEASED[name]  # written with the released schema, not an edited one
    writer = _expanded(source)
    reader = _expanded(json.loads(schemas.path(topic).read_text(encoding="utf-8")))  # the current version
    # one payload type at a time: the envelope of this version with every field set
    branch = next(b for b in writer["fields"][-1]["type"] if b["name"] == payload)
    seen = count(1)
    record = {f["name"]: _sample(f["type"], seen) for f in writer["fields"][:-1]}
    record["payload"] = (branch["fullname"], _sample(branch, seen))

    decoded = codec(topic).decode(single_object(source, record))

    assert _plain(decoded) == _resolved(record, writer, reader)
    if topic == "executions":  # what the engine folds: the domain event, and back, loses nothing
        assert event_to_record(decode_event(single_object(source, record))) == _plain(decoded)


# -- what other services write, spelled out ------------------------------------------------------------------------

FLOW = FlowSpec("nightly", (JobSpec("extract", "command", {"command": "sleep 1"}, retry=RetryPolicy(2, 1000, 8000,
                                                                                                    0.5)),
                            JobSpec("load", "noop", depends_on=("extract",), condition="all_done", cpu=1.5)),
                params={"day": None, "region": "eu"})
ENVELOPE = {"event_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "execution_id": "ex-1",
            "occurred_at": 1_700_000_000_123, "producer": "external", "causation_id": None, "correlation_id": "c-1"}


@pytest.mark.parametrize("version", sorted(v for t, v in map(_topic_and_version, RELEASED) if t == "executions"))
def test_a_submission_and_a_cancel_of_every_executions_version_decode_to_the_event(version: int):
    source = json.loads((SCHEMA_DIR / f"executions.v{version}.avsc").read_text(encoding="utf-8"))
    submitted = {"flow_name": "nightly", "definition_hash": FLOW.version_hash(), "definition": FLOW.to_dict(),
                 "params": {"day": "2026-12-01"}, "submitter": "billing-service", "idempotency_key": None,
                 "schedule_id": None, "logical_time": None}
    if version >= 3:
        submitted |= {"project": "analytics", "archive": None}
    data = single_object(source, {**ENVELOPE, "payload": ("kafkaban.executions.ExecutionSubmitted", submitted)})
    assert decode_event(data) == ev.Event(
        ENVELOPE["event_id"], "ex-1", 1_700_000_000_123, "external",
        ev.ExecutionSubmitted("nightly", FLOW.version_hash(), FLOW, {"day": "2026-12-01"}, "billing-service",
                              project="analytics" if version >= 3 else None),
        None, "c-1")
    cancel = single_object(source, {**ENVELOPE, "payload": ("kafkaban.executions.CancelRequested",
                                                            {"requested_by": "alice", "reason": "not needed"})})
    assert decode_event(cancel).payload == ev.CancelRequested("alice", "not needed")


# -- the README's table says the same ------------------------------------------------------------------------------

def test_the_readme_names_each_topic_current_version_and_fingerprints():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Schemas: the public contract", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("| `<prefix>.")}
    for topic in schemas.TOPICS:
        row = next((line for name, line in rows.items() if name.startswith(f"<prefix>.{topic}")), None)
        assert row is not None, f"the README's schema table has no row for {topic}"
        released = sorted((v, RELEASED[n]["fingerprint"]) for n in RELEASED
                          for t, v in [_topic_and_version(n)] if t == topic)
        assert f"| v{schemas.current_version(topic)} |" in row, row
        assert all(fingerprint in row for _, fingerprint in released), (row, released)
