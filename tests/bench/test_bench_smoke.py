"""The benchmark harness in smoke mode: it must run to the end and write its table. It asserts nothing of speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_runs_and_writes_its_results(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    results = json.loads((tmp_path / "smoke.json").read_text())
    assert {"fold", "latency", "e2e", "projection", "growth", "versions", "settings"} <= set(results)
    assert results["projection"]["verify_ok"] is True
    assert results["fold"]["ratio"] > 0 and results["e2e"]["jobs_per_s"] > 0
    table = (tmp_path / "smoke.md").read_text()
    assert "| measure | Kafkaban | raw baseline (same run) | ratio | target |" in table
    assert "| measure |" in done.stdout
