"""The Avro codec: single-object encoding, Confluent framing, typed decode errors, schema evolution."""

from __future__ import annotations

import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastavro import parse_schema

import schemas
from engine.codec import DecodeError, TopicCodec, codec, decode_event, encode_event
from engine.codec.avro import SINGLE_OBJECT_MARKER
from engine.codec.records import dispatch_from_record, dispatch_to_record, kill_from_record, kill_to_record
from engine.codec.registry import SchemaRegistry
from engine.codec.schema_set import schema_set
from engine.domain import events as ev
from engine.domain.commands import DispatchJob, KillJob
from engine.domain.loader import load_flow

SPEC = load_flow("params: {day: null}\nnodes: [{name: a, type: noop}, {name: b, type: noop, dependsOn: [a]}]", "f")
EVENTS = [
    ev.Event("0f8fad5b-d9cb-469f-a165-70867728950e", "ex-1", 1_700_000_000_123, "api",
             ev.ExecutionSubmitted("f", SPEC.version_hash(), SPEC, {"day": "x"}, "me", "k1", "s1", 1_700_000_000_000),
             None, "corr"),
    ev.Event("7c9e6679-7425-40de-944b-e07fc1f90ae7", "ex-1", 5, "engine", ev.ExecutionRejected(("a", "b")), "c"),
    ev.Event("7c9e6679-7425-40de-944b-e07fc1f90ae8", "ex-1", 5, "worker", ev.JobSucceeded("a", 2, 0, {"k": "1"})),
    ev.Event("7c9e6679-7425-40de-944b-e07fc1f90ae9", "ex-1", 5, "worker", ev.JobFailed("a", 2, None, "oom")),
    ev.Event("7c9e6679-7425-40de-944b-e07fc1f90aea", "ex-1", 5, "engine", ev.JobRetryScheduled("a", 3, 99)),
    ev.Event("7c9e6679-7425-40de-944b-e07fc1f90aeb", "ex-1", 5, "engine", ev.ExecutionSucceeded()),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_single_object_round_trip(event):
    data = encode_event(event)
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert data[2:10] == schema_set("executions").latest.fingerprint
    assert decode_event(data) == event


def test_fingerprint_is_crc64_avro_little_endian():
    # the reference value of the Avro specification for the schema "int"
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == bytes.fromhex("8f5c393f1ad57572")


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not Avro"),
    (b"{\"json\": true}", "not Avro"),
    (SINGLE_OBJECT_MARKER + b"\x00" * 8 + b"x", "unknown schema fingerprint"),
    (b"\x00\x00\x00\x00\x07abc", "no schema registry is configured"),
])
def test_undecodable_bytes_raise_one_typed_error_with_the_original_bytes(data, reason):
    with pytest.raises(DecodeError) as info:
        decode_event(data)
    assert reason in info.value.reason
    assert info.value.data == data


def test_truncated_and_padded_bodies_are_refused():
    data = encode_event(EVENTS[0])
    for broken in (data[:-5], data + b"\x00"):
        with pytest.raises(DecodeError) as info:
            decode_event(broken)
        assert info.value.data == broken


def test_a_record_written_as_a_plain_dict_decodes_to_the_event():
    record = {"event_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "execution_id": "e", "occurred_at": 1,
              "producer": "api", "payload": ("kafkaban.executions.JobQueued", {"job": "a", "attempt": 1})}
    data = codec("executions").encode(record)
    event = decode_event(data)
    assert event.payload == ev.JobQueued("a", 1)


def test_schemas_are_parsed_once_per_process():
    assert schema_set("executions") is schema_set("executions")
    assert codec("executions") is codec("executions")


def test_commands_round_trip():
    dispatch = DispatchJob("ex", "a", 2, "gpu", "command", {"command": "echo"}, {"p": "1"}, {"b:x": "3"}, 1000,
                           30_000, 1.5, 256)
    data = codec("dispatch").encode(dispatch_to_record(dispatch, "0f8fad5b-d9cb-469f-a165-70867728950e", 1))
    assert dispatch_from_record(codec("dispatch").decode(data), "gpu") == dispatch
    kill = KillJob("ex", "a", 2, "cancelled")
    data = codec("control").encode(kill_to_record(kill, "0f8fad5b-d9cb-469f-a165-70867728950e", 1))
    assert kill_from_record(codec("control").decode(data)) == kill


class _Registry(BaseHTTPRequestHandler):
    """The two calls of the Confluent Schema Registry REST API the codec uses (no registry runs here)."""

    schemas_by_id: dict[int, str] = {}  # noqa: RUF012

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ids = self.schemas_by_id
        schema_id = next((i for i, s in ids.items() if s == body["schema"]), len(ids) + 1)
        ids[schema_id] = body["schema"]
        self._answer({"id": schema_id})

    def do_GET(self) -> None:
        schema_id = int(self.path.rsplit("/", 1)[-1])
        if schema_id not in self.schemas_by_id:
            self.send_response(404)
            self.end_headers()
            return
        self._answer({"schema": self.schemas_by_id[schema_id]})

    def _answer(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_confluent_framing_with_a_registry(registry_url):
    writer = TopicCodec("executions", SchemaRegistry(registry_url))
    data = writer.encode(codec("executions").decode(encode_event(EVENTS[2])))
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] >= 1
    reader = TopicCodec("executions", SchemaRegistry(registry_url))  # a fresh process: looks the id up
    assert reader.decode(data)["payload"][1] == {"job": "a", "attempt": 2, "exit_code": 0, "outputs": {"k": "1"},
                                                    "worker_id": None}
    # the reader with a registry still takes single-object records
    assert reader.decode(encode_event(EVENTS[2]))["execution_id"] == "ex-1"
    with pytest.raises(DecodeError) as info:
        reader.decode(b"\x00\x00\x00\x03\xe7" + b"x")
    assert "writer schema 999" in info.value.reason


@pytest.mark.parametrize("topic", schemas.TOPICS)
def test_every_field_is_documented(topic):
    def fields_of(schema: Any) -> list[dict[str, Any]]:
        out = []
        if isinstance(schema, list):
            for item in schema:
                out += fields_of(item)
        elif isinstance(schema, dict):
            for field in schema.get("fields", []):
                out.append(field)
                out += fields_of(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    out += fields_of(schema[key])
        return out

    for version in schema_set(topic).versions:
        parse_schema(version.source)
        undocumented = [f["name"] for f in fields_of(version.source) if not f.get("doc")]
        assert undocumented == [], f"{topic} v{version.version}: {undocumented}"
