"""Configuration, read from environment variables in this one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

VERIFY_MAX_LAG = 1000  # records the projector may be behind for `kafkaban replay verify` to pass (--max-lag)
DEVELOPMENT_ENGINE_KEY = "kafkaban-development-engine-key"  # public: protects nothing, documented as such


class ConfigError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Every setting, with the environment variable it comes from."""

    bootstrap: str | None = None  # KAFKABAN_BOOTSTRAP: Kafka bootstrap servers (unset: `kafkaban dev` starts a broker)
    database_url: str | None = None  # KAFKABAN_DATABASE_URL: PostgreSQL URL (unset: `kafkaban dev` starts one)
    database_schema: str = "kafkaban"  # KAFKABAN_DATABASE_SCHEMA: PostgreSQL schema of the views
    topic_prefix: str = "kafkaban"  # KAFKABAN_TOPIC_PREFIX
    schema_registry_url: str | None = None  # KAFKABAN_SCHEMA_REGISTRY_URL: Confluent framing when set
    partitions: int = 6  # KAFKABAN_PARTITIONS: partitions of topics created at start-up
    replication: int = 1  # KAFKABAN_REPLICATION: replication factor of created topics
    session_timeout_ms: int = 10_000  # KAFKABAN_SESSION_TIMEOUT_MS: consumer-group session timeout
    fetch_wait_ms: int = 500  # KAFKABAN_FETCH_WAIT_MS: longest a fetch waits for new records (see README)
    idempotent_producers: bool = True  # KAFKABAN_IDEMPOTENT_PRODUCERS: 0 turns producer idempotence off
    processing_guarantee: str = "at_least_once"  # KAFKABAN_PROCESSING_GUARANTEE: or exactly_once (Apache Kafka)
    api_url: str = "http://127.0.0.1:8080"  # KAFKABAN_URL: where the CLI finds the API
    api_host: str = "127.0.0.1"  # KAFKABAN_API_HOST
    api_port: int = 8080  # KAFKABAN_API_PORT
    projector_port: int = 0  # KAFKABAN_PROJECTOR_PORT: where the projector serves /healthz and /metrics (0: not)
    kill_grace_s: float = 5.0  # KAFKABAN_KILL_GRACE: seconds between SIGTERM and SIGKILL of a killed job
    drain_timeout_s: float = 30.0  # KAFKABAN_DRAIN_TIMEOUT: how long a stopping worker lets running jobs finish
    dispatch_timeout_s: float = 120.0  # KAFKABAN_DISPATCH_TIMEOUT: a dispatch not started by then is sent again
    embedded_broker: str = "kafka"  # KAFKABAN_EMBEDDED_BROKER: kafka, or tansu (the fallback without Java)
    kafka_home: str | None = None  # KAFKABAN_KAFKA_HOME: an unpacked Apache Kafka distribution to run
    cache_dir: str | None = None  # KAFKABAN_CACHE_DIR: where resolved broker jars are kept (~/.cache/kafkaban)
    kafka_heap: str = "512m"  # KAFKABAN_KAFKA_HEAP: -Xmx of each broker node Kafkaban starts
    # KAFKABAN_ENGINE_KEY: the secret the engine signs its events with; readers trust a producer=engine event only
    # with a valid signature. Unset: a built-in development key, which anyone can use to forge engine events
    engine_key: str | None = None
    keep_workdirs: bool = False  # KAFKABAN_KEEP_WORKDIRS: 1 keeps each attempt's working directory (debugging)
    dev_stack: bool = False  # KAFKABAN_DEV_STACK: set by `kafkaban dev` for its parts (the API then tells the CLI)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        guarantee = env.get("KAFKABAN_PROCESSING_GUARANTEE", "at_least_once")
        if guarantee not in ("at_least_once", "exactly_once"):
            raise ConfigError(f"KAFKABAN_PROCESSING_GUARANTEE must be at_least_once or exactly_once, got {guarantee!r}")
        embedded = env.get("KAFKABAN_EMBEDDED_BROKER") or "kafka"
        if embedded not in ("kafka", "tansu"):
            raise ConfigError(f"KAFKABAN_EMBEDDED_BROKER must be kafka or tansu, got {embedded!r}")
        heap = env.get("KAFKABAN_KAFKA_HEAP") or "512m"
        if not re.fullmatch(r"\d+[kmgKMG]?", heap):
            raise ConfigError(f"KAFKABAN_KAFKA_HEAP must be a JVM heap size such as 512m or 1g, got {heap!r}")
        settings = cls(
            bootstrap=env.get("KAFKABAN_BOOTSTRAP") or None,
            database_url=env.get("KAFKABAN_DATABASE_URL") or None,
            database_schema=env.get("KAFKABAN_DATABASE_SCHEMA") or "kafkaban",
            topic_prefix=env.get("KAFKABAN_TOPIC_PREFIX") or "kafkaban",
            schema_registry_url=env.get("KAFKABAN_SCHEMA_REGISTRY_URL") or None,
            partitions=_int(env, "KAFKABAN_PARTITIONS", 6),
            replication=_int(env, "KAFKABAN_REPLICATION", 1),
            session_timeout_ms=_int(env, "KAFKABAN_SESSION_TIMEOUT_MS", 10_000),
            fetch_wait_ms=_int(env, "KAFKABAN_FETCH_WAIT_MS", 500),
            idempotent_producers=(env.get("KAFKABAN_IDEMPOTENT_PRODUCERS") or "1").strip().lower()
            not in ("0", "false", "no", "off"),
            processing_guarantee=guarantee,
            api_url=(env.get("KAFKABAN_URL") or "http://127.0.0.1:8080").rstrip("/"),
            api_host=env.get("KAFKABAN_API_HOST") or "127.0.0.1",
            api_port=_int(env, "KAFKABAN_API_PORT", 8080),
            projector_port=_int(env, "KAFKABAN_PROJECTOR_PORT", 0),
            kill_grace_s=_float(env, "KAFKABAN_KILL_GRACE", 5.0),
            drain_timeout_s=_float(env, "KAFKABAN_DRAIN_TIMEOUT", 30.0),
            dispatch_timeout_s=_float(env, "KAFKABAN_DISPATCH_TIMEOUT", 120.0),
            embedded_broker=embedded,
            kafka_home=env.get("KAFKABAN_KAFKA_HOME") or None,
            cache_dir=env.get("KAFKABAN_CACHE_DIR") or None,
            kafka_heap=heap,
            engine_key=env.get("KAFKABAN_ENGINE_KEY") or None,
            dev_stack=env.get("KAFKABAN_DEV_STACK") == "1",
            keep_workdirs=(env.get("KAFKABAN_KEEP_WORKDIRS") or "0").strip().lower() in ("1", "true", "yes", "on"),
        )
        if settings.partitions < 1:
            raise ConfigError("KAFKABAN_PARTITIONS must be at least 1")
        return settings

    def require_bootstrap(self) -> str:
        if not self.bootstrap:
            raise ConfigError(f"KAFKABAN_BOOTSTRAP is not set, and no `kafkaban dev` answers at KAFKABAN_URL "
                              f"({self.api_url}) to say it: set it to the Kafka bootstrap servers")
        return self.bootstrap

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError(f"KAFKABAN_DATABASE_URL is not set, and no `kafkaban dev` answers at KAFKABAN_URL "
                              f"({self.api_url}) to say it: set it to the PostgreSQL URL of the views")
        return self.database_url

    def signing_key(self) -> bytes:
        return (self.engine_key or DEVELOPMENT_ENGINE_KEY).encode()

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    # -- topic names ----------------------------------------------------------------------------------------------

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def dispatch_topic(self, pool: str) -> str:
        return f"{self.topic_prefix}.dispatch.{pool}"

    @property
    def executions_topic(self) -> str:
        return self.topic("executions")

    @property
    def heartbeats_topic(self) -> str:
        return self.topic("heartbeats")

    @property
    def control_topic(self) -> str:
        return self.topic("control")

    @property
    def deadletter_topic(self) -> str:
        return self.topic("deadletter")

    @property
    def logs_topic(self) -> str:
        return self.topic("logs")

    @property
    def definitions_topic(self) -> str:
        return self.topic("definitions")

    @property
    def schedules_topic(self) -> str:
        return self.topic("schedules")

    def base_topics(self) -> list[str]:
        return [self.executions_topic, self.heartbeats_topic, self.control_topic, self.deadletter_topic,
                self.logs_topic, self.definitions_topic, self.schedules_topic, self.dispatch_topic("default")]
