"""Without Java the broker Kafkaban starts for itself is tansu, with a warning that states its limits."""

from __future__ import annotations

from pathlib import Path

from engine.broker.local import TANSU_LIMITS, start_local_broker
from engine.config import Settings


def test_without_java_the_fallback_is_tansu_with_its_limits_stated(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    warnings: list[str] = []
    broker = start_local_broker(settings=Settings(), warn=warnings.append)
    try:
        assert broker.kind == "tansu" and broker.bootstrap.startswith("127.0.0.1:")
        assert broker.client_env["KAFKABAN_FETCH_WAIT_MS"] == "10"
    finally:
        broker.stop()
    assert len(warnings) == 1 and "needs Java 17" in warnings[0] and TANSU_LIMITS in warnings[0]
