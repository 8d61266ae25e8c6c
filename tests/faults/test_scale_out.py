"""Scale-out under load: three engines in one group and a pool growing from one worker to three; one engine
SIGKILLed, later another added. Partitions move and the new owners start from the partitions' snapshots, and still
every execution ends exactly once: none lost or stuck, no duplicate end, no attempt run to its end twice, and
replay verify passes. The pause in processing around each move is printed (bench/scale.py measures it)."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

from tests.faults.harness import Run, services

PARTITIONS = 6
REBUILT = re.compile(r"rebuilt partitions \[[\d, ]+\] of \S+\.executions from \d+ events .*\(from offsets (\{[^}]*\})")


def snapshot_starts(run: Run, name: str) -> list[int]:
    """The offsets each of ``name``'s rebuilds of executions partitions started from."""
    text = (run.root / f"{name}.log").read_text(errors="replace")
    return [int(offset) for starts in REBUILT.findall(text) for offset in re.findall(r"\d+: (\d+)", starts)]


def test_engines_and_workers_join_and_die_under_load_and_every_execution_ends_once(tmp_path: Path):
    with services(tmp_path / "services") as running:
        run = Run(running, tmp_path / "run", workers=1, partitions=PARTITIONS,
                  extra_env={"KAFKABAN_SNAPSHOT_INTERVAL": "1"})
        try:
            for name in ("engine-2", "engine-3"):
                run.stack.spawn(name, "engine")
            started = time.monotonic()
            load = threading.Thread(target=run.submit, args=(75, 3.0))
            load.start()
            time.sleep(6)
            run.stack.spawn("worker-2", "worker", "--pool", "default", "--slots", "4")
            time.sleep(3)
            engine = run.stack.processes["engine-2"]
            engine.send_signal(signal.SIGKILL)
            engine.wait()
            killed = time.monotonic()
            time.sleep(3)
            run.stack.spawn("worker-3", "worker", "--pool", "default", "--slots", "4")
            time.sleep(6)
            run.stack.spawn("engine-4", "engine")
            added = time.monotonic()
            load.join()
            run.settle(timeout=240)
            figures = run.judge("scale-out: engines 3 -> 2 -> 3, workers 1 -> 3", None, started)
            pauses = {"engine killed": run.longest_pause(killed), "engine added": run.longest_pause(added)}
            after_kill = {name: snapshot_starts(run, name) for name in ("engine", "engine-3", "engine-4")}
        finally:
            run.close()
    print(figures.row(), pauses, after_kill)
    assert figures.submitted == 75
    assert figures.lost == 0 and figures.stuck == 0, (figures, run.stack.logs())
    assert figures.duplicate_terminals == 0 and figures.attempts_completed_twice == 0, figures
    assert figures.verify_ok, figures.notes
    # a partition taken over after the kill, or by the engine added, started from its snapshot, not offset 0
    assert any(offset > 0 for starts in after_kill.values() for offset in starts), after_kill
    assert all(pause is not None for pause in pauses.values()), pauses  # work went on after each move
