"""Domain values <-> Avro records (dicts), and the codecs of each topic, built once per process."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from typing import Any

from engine.codec.avro import TopicCodec
from engine.codec.errors import DecodeError
from engine.codec.registry import SchemaRegistry
from engine.domain import events as ev
from engine.domain.commands import DispatchJob, KillJob
from engine.domain.spec import FlowSpec

EXECUTIONS_NAMESPACE = "kafkaban.executions"
_TIME_FIELDS = frozenset({"occurred_at", "not_before", "logical_time"})


def _millis(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return round(value.timestamp() * 1000)
    return value


def _plain(value: Any) -> Any:
    """fastavro's logical types back to the plain values the domain uses (uuid -> str, timestamp -> ms)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return _millis(value)


def envelope(record: Mapping[str, Any], key_field: str, payload: tuple[str, Any] | dict[str, Any],
             ) -> dict[str, Any]:
    return {
        "event_id": record["event_id"],
        key_field: record[key_field],
        "occurred_at": record["occurred_at"],
        "producer": record["producer"],
        "causation_id": record.get("causation_id"),
        "correlation_id": record.get("correlation_id"),
        "payload": payload,
    }


def flow_registered(name: str, version: str, source: str, registered_by: str, occurred_at: int,
                    ) -> dict[str, Any]:
    """The definitions record that registers a version of a flow."""
    return envelope({"event_id": str(uuid.uuid4()), "flow_name": name, "occurred_at": occurred_at,
                     "producer": "api"}, "flow_name",
                    ("kafkaban.definitions.FlowRegistered",
                     {"definition_hash": version, "source": source, "registered_by": registered_by}))


def plain_record(record: dict[str, Any]) -> dict[str, Any]:
    """A decoded envelope with plain values: event_id as str, times as UTC ms, payload as (short name, dict)."""
    out = {key: _plain(value) for key, value in record.items() if key != "payload"}
    name, payload = record["payload"]
    out["payload_type"] = name.rsplit(".", 1)[-1]
    out["payload"] = {key: (_millis(value) if key in _TIME_FIELDS else value) for key, value in payload.items()}
    return out


# -- executions ---------------------------------------------------------------------------------------------------

def event_to_record(event: ev.Event) -> dict[str, Any]:
    payload = event.payload
    body: dict[str, Any] = {}
    for f in fields(payload):
        value = getattr(payload, f.name)
        if isinstance(value, FlowSpec):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        body[f.name] = value
    return {
        "event_id": event.event_id,
        "execution_id": event.execution_id,
        "occurred_at": event.occurred_at,
        "producer": event.producer,
        "causation_id": event.causation_id,
        "correlation_id": event.correlation_id,
        "payload": (f"{EXECUTIONS_NAMESPACE}.{type(payload).__name__}", body),
    }


def event_from_record(record: Mapping[str, Any], data: bytes = b"") -> ev.Event:
    try:
        plain = plain_record(dict(record))
        cls = ev.PAYLOAD_TYPES[plain["payload_type"]]
        body = dict(plain["payload"])
        if cls is ev.ExecutionSubmitted:
            body["definition"] = FlowSpec.from_dict(body["definition"])
        for key in ("errors", "failed_jobs"):
            if key in body:
                body[key] = tuple(body[key])
        return ev.Event(
            event_id=plain["event_id"],
            execution_id=plain["execution_id"],
            occurred_at=plain["occurred_at"],
            producer=plain["producer"],
            causation_id=plain.get("causation_id"),
            correlation_id=plain.get("correlation_id"),
            payload=cls(**body),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"record is not a valid execution event: {type(exc).__name__}: {exc}", data) from exc


# -- commands -----------------------------------------------------------------------------------------------------

def dispatch_to_record(command: DispatchJob, event_id: str, occurred_at: int) -> dict[str, Any]:
    body = {f.name: getattr(command, f.name) for f in fields(command) if f.name not in ("execution_id", "pool")}
    body = {key: dict(value) if isinstance(value, Mapping) else value for key, value in body.items()}
    return envelope({"event_id": event_id, "execution_id": command.execution_id, "occurred_at": occurred_at,
                     "producer": "engine"}, "execution_id", ("kafkaban.dispatch.DispatchJob", body))


def dispatch_from_record(record: Mapping[str, Any], pool: str) -> DispatchJob:
    _, body = record["payload"]
    return DispatchJob(execution_id=record["execution_id"], pool=pool, **body)


def kill_to_record(command: KillJob, event_id: str, occurred_at: int) -> dict[str, Any]:
    body = {"job": command.job, "attempt": command.attempt, "reason": command.reason, "worker_id": command.worker_id}
    return envelope({"event_id": event_id, "execution_id": command.execution_id, "occurred_at": occurred_at,
                     "producer": "engine"}, "execution_id", ("kafkaban.control.KillJob", body))


def kill_from_record(record: Mapping[str, Any]) -> KillJob:
    _, body = record["payload"]
    return KillJob(execution_id=record["execution_id"], **body)


# -- codecs -------------------------------------------------------------------------------------------------------

@cache
def codec(topic: str, registry_url: str | None = None) -> TopicCodec:
    """The codec of a topic (short name: executions, dispatch, ...); one per process and registry."""
    return TopicCodec(topic, SchemaRegistry(registry_url) if registry_url else None)


def encode_event(event: ev.Event, registry_url: str | None = None) -> bytes:
    return codec("executions", registry_url).encode(event_to_record(event))


def decode_event(data: bytes, registry_url: str | None = None) -> ev.Event:
    return event_from_record(codec("executions", registry_url).decode(data), data)
