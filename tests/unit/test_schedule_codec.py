"""Schedule events on the wire: every kind round-trips through Avro, v1 records still read, and admission
refuses what the executions topic refuses."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from engine.codec.admission import Refused, admit_schedule, signed
from engine.codec.avro import TopicCodec
from engine.codec.schedule_records import decode_schedule_event, encode_schedule_event
from engine.codec.schema_set import schema_set
from engine.domain.schedule import events as se
from engine.domain.schedule.spec import ScheduleSpec
from engine.domain.triggers import TriggerDependency
from tests.support.schedules import T0, Sim, at_minute

KEY = b"test-key"


def a_full_history() -> list[se.ScheduleEvent]:
    spec = ScheduleSpec(flow="proj/etl", cadence="0 0 * * * ?", timezone="Europe/Berlin", params={"a": "1"},
                        version="abc", start_at=T0, end_at=T0 + 10**9, overlap="buffer_one", catchup="all",
                        catchup_window_ms=60_000, jitter_ms=500)
    sim = Sim(replace(spec, cadence="* * * * *", start_at=None, end_at=None, jitter_ms=0))
    sim.run_until(at_minute(3))
    sim.end(sim.state.running[0].execution_id, at_minute(3) + 1)
    sim.put(se.SchedulePaused("ops", None), at_minute(3) + 2)
    sim.put(se.ScheduleUpdated(spec, "ops"), at_minute(4))
    sim.put(se.ScheduleResumed("ops"), at_minute(6))
    sim.put(se.ScheduleTriggered("ops"), at_minute(6) + 1)
    sim.put(se.ScheduleBackfillRequested("b1", at_minute(-1), at_minute(1), "allow_all", 10, "ops"), at_minute(6) + 2)
    sim.run_until(at_minute(6) + 20_000)
    dependency = TriggerDependency("landed", "kafka", {"topic": "events", "match": "landed"})
    sim.put(se.ScheduleUpdated(replace(spec, cadence="* * * * *", dependencies=(dependency,), max_wait_ms=60_000,
                                       start_at=None, jitter_ms=0, origin="trigger"), "ops"), at_minute(6) + 30_000)
    sim.run_until(at_minute(7) + 1)
    sim.met(at_minute(7), "landed", 3, at_minute(7) + 2)
    sim.run_until(at_minute(9) + 1)
    sim.put(se.ScheduleDeleted("ops"), at_minute(7))
    return sim.log


def test_every_kind_of_schedule_event_round_trips() -> None:
    log = a_full_history()
    assert {type(e.payload) for e in log} == set(se.PAYLOAD_TYPES.values())
    for event in log:
        assert decode_schedule_event(encode_schedule_event(event)) == event


def test_a_v1_schedule_created_reads_with_the_defaults_of_v2() -> None:
    v1 = next(v for v in schema_set("schedules").versions if v.version == 1)
    writer = TopicCodec("schedules")
    writer.schemas = type(writer.schemas)("schedules", (v1,))
    data = writer.encode({"event_id": str(uuid.uuid4()), "schedule_id": "old", "occurred_at": T0, "producer": "api",
                          "payload": ("kafkaban.schedules.ScheduleCreated", {
                              "flow_name": "etl", "cron": "0 2 * * *", "timezone": "UTC", "params": {},
                              "created_by": "someone"})})
    event = decode_schedule_event(data)
    assert event.payload == se.ScheduleCreated(ScheduleSpec(flow="etl", cadence="0 2 * * *"), "someone")


def test_admission_of_schedule_records() -> None:
    tick = se.ScheduleEvent(str(uuid.uuid4()), "s1", T0, "engine", se.ScheduleTick(T0))
    value = encode_schedule_event(tick)
    assert admit_schedule(b"s1", value, signed(value, KEY), KEY) == tick
    with pytest.raises(Refused, match="not signed by the engine"):
        admit_schedule(b"s1", value, None, KEY)
    with pytest.raises(Refused, match="differs from schedule_id"):
        admit_schedule(b"s2", value, signed(value, KEY), KEY)
    forged = encode_schedule_event(replace(tick, producer="external"))
    with pytest.raises(Refused, match="decided by the engine only"):
        admit_schedule(b"s1", forged, None, KEY)
    with pytest.raises(Refused, match="not Avro"):
        admit_schedule(b"s1", b"garbage", None, KEY)
    pause = encode_schedule_event(se.ScheduleEvent(str(uuid.uuid4()), "s1", T0, "api", se.SchedulePaused("ops")))
    assert admit_schedule(b"s1", pause, None, KEY).payload == se.SchedulePaused("ops")
