"""The broker Kafkaban starts for itself when none is configured: `kafkaban dev`, the tests and the benchmarks.

Apache Kafka (KRaft, see engine/broker/kafka_server.py) unless KAFKABAN_EMBEDDED_BROKER=tansu asks for the old embedded
tansu broker, or no Java 17+ is installed, in which case tansu stands in with a warning of what it cannot do.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.broker.embedded import EmbeddedBroker, start_broker
from engine.broker.kafka_dist import JavaMissing, runtime
from engine.broker.kafka_server import KafkaCluster
from engine.config import Settings

TANSU_LIMITS = (
    "tansu keeps everything in memory (nothing survives a restart) and slows as a partition grows: reading the "
    "last 200 records took 17 ms at 2,000 record batches, 37 ms at 10,000 and nothing within 5 s at 30,000, and a "
    "burst of 20,000 executions stalled the engine. Install Java 17+ to run Apache Kafka instead.")


@dataclass
class LocalBroker:
    """A started broker: where clients find it, what environment its clients need, and how to stop it."""

    kind: str  # "kafka" or "tansu"
    bootstrap: str
    cluster: KafkaCluster | None = None
    tansu: EmbeddedBroker | None = None
    client_env: dict[str, str] = field(default_factory=dict)
    owned_root: Path | None = None

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        if self.tansu is not None:
            self.tansu.stop()
        if self.owned_root is not None:
            shutil.rmtree(self.owned_root, ignore_errors=True)

    def describe(self) -> str:
        if self.cluster is not None:
            version = self.cluster.runtime.version if self.cluster.runtime else "?"
            return f"Apache Kafka {version} (KRaft, {self.cluster.size} node(s), data in {self.cluster.root})"
        return "tansu (in memory: nothing survives a restart)"


def start_local_broker(root: Path | None = None, size: int = 1, settings: Settings | None = None,
                       warn: Callable[[str], None] | None = None, **options: Any) -> LocalBroker:
    """Start a broker keeping its data in ``root`` (a temporary directory, removed on stop, when None)."""
    settings = settings or Settings.from_env()
    warn = warn or _warn
    if settings.embedded_broker == "kafka":
        try:
            found = runtime(settings)
        except JavaMissing as exc:
            # tansu has no SASL or ACLs: standing in for a secured broker would hide what a test asks to check
            if size > 1 or options.get("security") is not None:
                raise
            warn(f"{exc}\nFalling back to the embedded tansu broker. {TANSU_LIMITS}")
        else:
            owned = None if root is not None else Path(tempfile.mkdtemp(prefix="kafkaban-kafka-"))
            directory = root if root is not None else owned
            assert directory is not None
            options.setdefault("heap", settings.kafka_heap)
            cluster = KafkaCluster(directory, size, runtime=found, **options)
            try:
                cluster.start()
            except BaseException:
                if owned is not None:
                    shutil.rmtree(owned, ignore_errors=True)
                raise
            # topics Kafkaban creates get the cluster's replication (with 3 nodes, min.insync.replicas is 2)
            return LocalBroker("kafka", cluster.bootstrap, cluster=cluster, owned_root=owned,
                               client_env={"KAFKABAN_REPLICATION": str(cluster.replication)})
    tansu = start_broker()
    # tansu holds every fetch for the consumer's whole fetch wait, so it must be short; and the engine's aiokafka
    # producer gets no answer from it when idempotence is on
    return LocalBroker("tansu", tansu.bootstrap, tansu=tansu,
                       client_env={"KAFKABAN_FETCH_WAIT_MS": "10", "KAFKABAN_IDEMPOTENT_PRODUCERS": "0"})


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
