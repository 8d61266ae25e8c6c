"""Schedule events <-> Avro records of the schedules topic. The spec travels flattened (as schedules v1 wrote
``ScheduleCreated``): ``flow_name`` and ``cron`` on the wire are ``flow`` and ``cadence`` in the domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from engine.codec.errors import DecodeError
from engine.codec.records import codec, plain_record
from engine.domain.schedule import events as se
from engine.domain.schedule.spec import ScheduleSpec
from engine.domain.triggers import TriggerDependency

NAMESPACE = "kafkaban.schedules"
_SPEC_ON_THE_WIRE = {"flow": "flow_name", "cadence": "cron"}
_TIMES = ("start_at", "end_at", "through", "start", "end", "until")


def spec_to_record(spec: ScheduleSpec) -> dict[str, Any]:
    out = {_SPEC_ON_THE_WIRE.get(f.name, f.name): getattr(spec, f.name) for f in fields(spec)}
    out["params"] = dict(spec.params)
    out["dependencies"] = [{"name": d.name, "type": d.type, "params": dict(d.params)} for d in spec.dependencies]
    return out


def spec_from_record(body: Mapping[str, Any]) -> ScheduleSpec:
    wire = {wire: name for name, wire in _SPEC_ON_THE_WIRE.items()}
    names = {f.name for f in fields(ScheduleSpec)}
    values = {wire.get(key, key): value for key, value in body.items() if wire.get(key, key) in names}
    values["dependencies"] = tuple(TriggerDependency(d["name"], d["type"], dict(d["params"]))
                                   for d in values.get("dependencies") or ())
    return ScheduleSpec(**values)


def _match_to_record(match: se.DependencyMatch) -> dict[str, Any]:
    return {"name": match.name, "topic": match.topic, "partition": match.partition, "offset": match.offset}


def schedule_event_to_record(event: se.ScheduleEvent) -> dict[str, Any]:
    payload = event.payload
    if isinstance(payload, se.ScheduleCreated | se.ScheduleUpdated):
        who = "created_by" if isinstance(payload, se.ScheduleCreated) else "updated_by"
        body = {**spec_to_record(payload.spec), who: getattr(payload, who)}
    else:
        body = {f.name: getattr(payload, f.name) for f in fields(payload)}
        if isinstance(payload, se.ScheduleFired):
            body["dependencies"] = [_match_to_record(m) for m in payload.dependencies]
        elif isinstance(payload, se.ScheduleDependencyMet):
            body["match"] = _match_to_record(payload.match)
    return {"event_id": event.event_id, "schedule_id": event.schedule_id, "occurred_at": event.occurred_at,
            "producer": event.producer, "causation_id": event.causation_id, "correlation_id": event.correlation_id,
            "payload": (f"{NAMESPACE}.{type(payload).__name__}", body)}


def schedule_event_from_record(record: Mapping[str, Any], data: bytes = b"") -> se.ScheduleEvent:
    try:
        plain = plain_record(dict(record))
        cls = se.PAYLOAD_TYPES[plain["payload_type"]]
        body = {key: (_ms(value) if key in _TIMES else value) for key, value in plain["payload"].items()}
        if cls is se.ScheduleCreated:
            payload: se.Payload = se.ScheduleCreated(spec_from_record(body), body["created_by"])
        elif cls is se.ScheduleUpdated:
            payload = se.ScheduleUpdated(spec_from_record(body), body["updated_by"])
        elif cls is se.ScheduleFired:
            body["dependencies"] = tuple(se.DependencyMatch(**m) for m in body.get("dependencies") or ())
            payload = cls(**body)
        elif cls is se.ScheduleDependencyMet:
            payload = cls(body["logical_time"], se.DependencyMatch(**body["match"]))
        else:
            payload = cls(**body)
        return se.ScheduleEvent(event_id=plain["event_id"], schedule_id=plain["schedule_id"],
                                occurred_at=plain["occurred_at"], producer=plain["producer"], payload=payload,
                                causation_id=plain.get("causation_id"), correlation_id=plain.get("correlation_id"))
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"record is not a valid schedule event: {type(exc).__name__}: {exc}", data) from exc


def _ms(value: Any) -> Any:
    return round(value.timestamp() * 1000) if hasattr(value, "timestamp") else value


def encode_schedule_event(event: se.ScheduleEvent, registry_url: str | None = None) -> bytes:
    return codec("schedules", registry_url).encode(schedule_event_to_record(event))


def decode_schedule_event(data: bytes, registry_url: str | None = None) -> se.ScheduleEvent:
    return schedule_event_from_record(codec("schedules", registry_url).decode(data), data)
