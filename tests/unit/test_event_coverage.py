"""Every event record of the executions schema has a class, an evolve branch and a react branch."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from engine.codec.schema_set import schema_set
from engine.domain import events as ev
from engine.domain.evolve import APPLIERS, MissingApplier, evolve
from engine.domain.react import REACTORS


def schema_records() -> dict[str, list[str]]:
    payload = schema_set("executions").latest.source["fields"][-1]
    return {record["name"]: [f["name"] for f in record["fields"]] for record in payload["type"]}


def test_every_schema_record_has_a_class_with_the_same_fields():
    records = schema_records()
    assert set(records) == set(ev.PAYLOAD_TYPES)
    for name, field_names in records.items():
        assert [f.name for f in fields(ev.PAYLOAD_TYPES[name])] == field_names, name


@pytest.mark.parametrize("name", sorted(schema_records()))
def test_every_schema_record_has_an_evolve_and_a_react_branch(name):
    cls = ev.PAYLOAD_TYPES[name]
    assert cls in APPLIERS, f"{name} has no evolve branch"
    assert cls in REACTORS, f"{name} has no react branch"


def test_an_event_without_an_evolve_branch_is_an_error_not_a_no_op():
    @dataclass(frozen=True)
    class JobTeleported:
        job: str

    with pytest.raises(MissingApplier, match="JobTeleported"):
        evolve(None, ev.Event("id", "ex", 0, "engine", JobTeleported("a")))  # type: ignore[arg-type]
