"""Checking the snapshots against the log (``kafkaban replay verify``): a snapshot is never the truth, so an auditor
can ask whether each one would recover what the log says.

What a takeover relies on is checked, not equality at the marker's offset (a state in a snapshot may already hold
the events its own records decided, written just past the marker): for each partition, the log folded from its
start must equal the snapshot's states with the log after the marker folded onto them, and an id the snapshot
keeps as ended must have ended so in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.codec.admission import Refused, admit
from engine.codec.partitioning import Placement
from engine.config import Settings
from engine.domain.evolve import evolve
from engine.domain.state import ExecutionState
from engine.log_reader import dead_lettered, partitions_of, read_records
from engine.processor.snapshots import load


@dataclass
class SnapshotReport:
    partitions: int = 0  # partitions with a usable snapshot
    unusable: list[int] = field(default_factory=list)  # partitions whose snapshot records exist but cannot be used
    states: int = 0
    ended: int = 0
    mismatches: list[str] = field(default_factory=list)


def check_snapshots(settings: Settings) -> SnapshotReport:
    report = SnapshotReport()
    topic = settings.executions_topic
    partitions = partitions_of(settings, topic)
    if not partitions_of(settings, settings.snapshots_topic):
        return report
    refused = dead_lettered(settings, topic)
    key = settings.require_signing_key()
    for partition in partitions:
        snapshot = load(settings, partition)
        if snapshot is None:
            if any(True for _ in read_records(settings, settings.snapshots_topic, partition)):
                report.unusable.append(partition)
            continue
        report.partitions += 1
        report.states += len(snapshot.states)
        report.ended += len(snapshot.ended)
        whole: dict[str, ExecutionState | None] = {}
        resumed: dict[str, ExecutionState | None] = dict(snapshot.states)
        for offset, record_key, value, headers in read_records(settings, topic, partition):
            if (partition, offset) in refused:
                continue
            try:
                event = admit(record_key, value, headers, key, settings.schema_registry_url,
                              Placement(partition, len(partitions)))
            except Refused:
                continue
            eid = event.execution_id
            whole[eid] = evolve(whole.get(eid), event)
            if offset >= snapshot.offset and eid not in snapshot.ended:
                resumed[eid] = evolve(resumed.get(eid), event)
        for eid, status in sorted(snapshot.ended.items()):
            state = whole.get(eid)
            if state is None or not state.terminal or state.status.value != status:
                told = "not ended" if state is None or not state.terminal else state.status.value
                report.mismatches.append(f"{topic}[{partition}] {eid}: the snapshot says it ended {status}, "
                                         f"the log says {told}")
        for eid in sorted(set(whole) | set(resumed)):
            if eid in snapshot.ended:
                continue
            folded, recovered = whole.get(eid), resumed.get(eid)
            if eid not in snapshot.states and recovered is None:
                # not in the snapshot and not begun after it: an id forgotten past the bound, which had ended
                if folded is not None and not folded.terminal:
                    report.mismatches.append(f"{topic}[{partition}] {eid}: live in the log, missing from the "
                                             f"snapshot")
                continue
            if folded != recovered:
                report.mismatches.append(f"{topic}[{partition}] {eid}: recovered from the snapshot at offset "
                                         f"{snapshot.offset} it is not what the log folds to")
    return report
