"""Execution events as JSON-ready dicts (API responses, CLI --json, golden histories)."""

from __future__ import annotations

from typing import Any

from engine.codec.records import event_from_record, event_to_record
from engine.domain import events as ev


def event_to_json(event: ev.Event) -> dict[str, Any]:
    record = event_to_record(event)
    name, payload = record.pop("payload")
    return {**record, "type": name.rsplit(".", 1)[-1], "payload": payload}


def event_from_json(data: dict[str, Any]) -> ev.Event:
    record = {key: value for key, value in data.items() if key not in ("type", "payload")}
    record["payload"] = (f"kafkaban.executions.{data['type']}", data["payload"])
    return event_from_record(record)
