"""A restarted engine starts each partition from its snapshot and refolds only the records after it; a snapshot it
cannot trust (here, a record spoilt under a valid marker) is refused with a warning and the log refolded, and the
work goes on the same either way. Ended executions are in the snapshot as ids, not states."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from engine.kafka import producer_config
from engine.log_reader import read_records
from engine.processor.snapshot_check import check_snapshots
from engine.processor.snapshots import MARKER, Snapshot, load
from tests.integration.stack import Stack
from tests.support.waiting import wait_until

SHORT = "name: short\nnodes:\n  - {name: a, type: noop}\n  - {name: b, type: noop, dependsOn: [a]}"
HELD = """name: held
params: {gate: null}
nodes:
  - {name: wait, type: command, config: {command: "while [ ! -f ${gate} ]; do sleep 0.1; done"}}
  - {name: after, type: noop, dependsOn: [wait]}
"""
PARTITIONS = 2
REBUILT = re.compile(r"rebuilt partitions \[([\d, ]+)\] of \S+ from (\d+) events .*\(from offsets (\{[^}]*\})")


def markers(stack: Stack) -> dict[int, tuple[int, bytes]]:
    """Each snapshot partition's last marker: (its offset in the snapshot topic, its value)."""
    found = {}
    for partition in range(PARTITIONS):
        for offset, key, value, _ in read_records(stack.settings, stack.settings.snapshots_topic, partition):
            if key == MARKER and value is not None:
                found[partition] = (offset, value)
    return found


def starts_since(stack: Stack, mark: int) -> dict[int, int]:
    """The offset each partition's rebuild started from, as the engine logged it after ``mark``."""
    text = (stack.log_dir / "engine.log").read_text(errors="replace")[mark:]
    return {int(p): int(o) for _, _, starts in REBUILT.findall(text) for p, o in re.findall(r"(\d+): (\d+)", starts)}


@pytest.fixture
def snapshotting(bootstrap: str, new_database, tmp_path: Path):
    stack = Stack(bootstrap, new_database(), tmp_path, partitions=PARTITIONS,
                  extra_env={"KAFKABAN_SNAPSHOT_INTERVAL": "1", "KAFKABAN_ENDED_GRACE": "0"})
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def run_then_restart(stack: Stack, gate: Path, spoil: bool) -> tuple[str, list[str], int]:
    ended = [stack.submit(definition=SHORT) for _ in range(8)]
    for execution_id in ended:
        assert stack.wait_for(execution_id)["status"] == "SUCCEEDED"
    held = stack.submit(definition=HELD, gate=str(gate))
    stack.wait_for(held, {"RUNNING"}, job="wait")

    def snapshots_holding_held() -> dict[int, Snapshot | None] | None:
        found = {p: load(stack.settings, p) for p in range(PARTITIONS)}
        holding = [s for s in found.values() if s is not None and held in s.states]
        running = holding and holding[0].states[held].jobs["wait"].status.value == "RUNNING"
        ids = {eid for s in found.values() if s is not None for eid in s.ended}
        return found if running and set(ended) <= ids else None  # the ended ones as ids, not states

    snapshots = wait_until(snapshots_holding_held, 30, "a snapshot holding the held execution as it runs and the "
                           "ended ones as ids")
    assert set(ended) <= {eid for s in snapshots.values() if s is not None for eid in s.ended}  # ids, not states
    engine = stack.processes["engine"]
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    if spoil:
        spoilt = next(p for p, s in snapshots.items() if s is not None and held in s.states)
        producer = Producer(producer_config(stack.settings))
        # a spoilt state under a copy of the marker: the marker's checks pass, the record does not decode
        producer.produce(stack.settings.snapshots_topic, key=held.encode(), value=b'{"format": 1, "state": {}}',
                         partition=spoilt)
        producer.produce(stack.settings.snapshots_topic, key=MARKER, value=markers(stack)[spoilt][1],
                         partition=spoilt)
        assert producer.flush(30) == 0
    gate.touch()  # the held job ends while no engine runs: its report waits in the log
    time.sleep(1)
    mark = len((stack.log_dir / "engine.log").read_text(errors="replace"))
    stack.spawn("engine", "engine")
    return held, ended, mark


def test_a_restarted_engine_refolds_only_what_came_after_its_snapshot(snapshotting: Stack, tmp_path: Path):
    stack = snapshotting
    held, ended, mark = run_then_restart(stack, tmp_path / "gate", spoil=False)
    assert stack.wait_for(held, timeout=60)["status"] == "SUCCEEDED"
    assert stack.wait_for(stack.submit(definition=SHORT))["status"] == "SUCCEEDED"
    starts = starts_since(stack, mark)
    assert sorted(starts) == list(range(PARTITIONS)), stack.log("engine")
    assert all(offset > 0 for offset in starts.values()), starts  # from the snapshots, not offset 0
    assert "cannot be used" not in stack.log("engine")
    for execution_id in ended:  # ended before the restart, still ended once
        assert stack.execution(execution_id)["status"] == "SUCCEEDED"  # type: ignore[index]
    checked = check_snapshots(stack.settings)  # what replay verify reports
    assert checked.partitions == PARTITIONS and checked.mismatches == [] and checked.unusable == [], checked

    # a state that decodes but is not what the log says, under a copy of the marker: verify names it
    partition, (_, marker) = next((p, m) for p, m in markers(stack).items()
                                  if any(eid in load(stack.settings, p).ended for eid in ended))  # type: ignore[union-attr]
    victim = next(eid for eid in ended if eid in load(stack.settings, partition).ended)  # type: ignore[union-attr]
    producer = Producer(producer_config(stack.settings))
    producer.produce(stack.settings.snapshots_topic, key=victim.encode(), value=b'{"ended":"FAILED","format":1}',
                     partition=partition)
    producer.produce(stack.settings.snapshots_topic, key=MARKER, value=marker, partition=partition)
    assert producer.flush(30) == 0
    wrong = check_snapshots(stack.settings)
    assert len(wrong.mismatches) == 1 and victim in wrong.mismatches[0] and "FAILED" in wrong.mismatches[0], wrong


def test_a_spoilt_snapshot_is_refused_with_a_warning_and_the_log_refolded(snapshotting: Stack, tmp_path: Path):
    stack = snapshotting
    held, _, mark = run_then_restart(stack, tmp_path / "gate", spoil=True)
    assert stack.wait_for(held, timeout=60)["status"] == "SUCCEEDED"
    assert stack.wait_for(stack.submit(definition=SHORT))["status"] == "SUCCEEDED"
    log = stack.log("engine")
    assert "cannot be used" in log and "refolding the log from its start" in log, log
    starts = starts_since(stack, mark)
    assert sorted(starts) == list(range(PARTITIONS)) and 0 in starts.values(), starts  # the spoilt one from 0
