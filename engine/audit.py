"""The audit path that needs no PostgreSQL: an execution's history straight from the executions log."""

from __future__ import annotations

from dataclasses import dataclass

from engine.codec.admission import Refused, admit, home_partition
from engine.codec.partitioning import Placement
from engine.config import Settings
from engine.domain import events as ev
from engine.log_reader import partitions_of, read_records


@dataclass(frozen=True)
class LoggedEvent:
    partition: int
    offset: int
    event: ev.Event


def history_from_kafka(settings: Settings, execution_id: str) -> list[LoggedEvent]:
    """Every event of the execution, in log order, read from its partition of the executions topic: the one its
    events are folded from, where the engine forwards a record another producer put elsewhere."""
    topic = settings.executions_topic
    partitions = partitions_of(settings, topic)
    if not partitions:
        return []
    partition = home_partition(execution_id, len(partitions))
    out: list[LoggedEvent] = []
    key = execution_id.encode()
    for offset, record_key, value, headers in read_records(settings, topic, partition):
        if record_key != key:
            continue
        try:
            event = admit(record_key, value, headers, settings.require_signing_key(), settings.schema_registry_url,
                          Placement(partition, len(partitions)))
        except Refused:
            continue
        if event.execution_id == execution_id:
            out.append(LoggedEvent(partition, offset, event))
    return out
