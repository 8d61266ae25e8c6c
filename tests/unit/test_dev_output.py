"""What `kafkaban dev` passes on of its parts' output: not the lines a user can do nothing about."""

from __future__ import annotations

import io
import sys

import pytest

from engine.dev import _pump, shown

NOISE = [
    # librdkafka's own log line, as a producer prints it while a new broker's coordinator loads
    "%4|1765104000.123|GETPID|rdkafka#producer-1| [thrd:main]: Failed to acquire idempotence PID from broker "
    "127.0.0.1:39093/1: Broker: Coordinator load in progress: retrying\n",
    "2026-12-07 12:00:00,000 WARNING faust.app.base: Missing sensor state for rebalance #1\n",
    "[2026-12-07 12:00:00,000] [4242] [WARNING]: Missing sensor state for rebalance end #2\n",
]
KEPT = [
    "2026-12-07 12:00:00,000 INFO kafkaban.engine: engine started on partitions [0, 1, 2]\n",
    "%3|1765104000.123|FAIL|rdkafka#producer-1| [thrd:127.0.0.1:39093/1]: Connect to ipv4#127.0.0.1:39093 failed\n",
    "2026-12-07 12:00:00,000 WARNING faust.app.base: rebalance took 12 s\n",
]


@pytest.mark.parametrize("line", NOISE)
def test_noise_is_not_passed_on(line: str):
    assert not shown(line)


@pytest.mark.parametrize("line", KEPT)
def test_everything_else_is(line: str):
    assert shown(line)


def test_the_pump_prefixes_what_it_passes_on(monkeypatch: pytest.MonkeyPatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    _pump("engine", io.BytesIO("".join(KEPT + NOISE).encode()), 9)
    assert out.getvalue() == "".join(f"engine    | {line}" for line in KEPT)
