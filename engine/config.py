"""Configuration, read from environment variables in this one place."""

from __future__ import annotations

import base64
import binascii
import ipaddress
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


def _at_least(value: float, least: float, name: str) -> float:
    if value < least:
        raise ConfigError(f"{name} must be at least {least:g}, got {value:g}")
    return value


def without_password(url: str) -> str:
    """A URL fit to print: its password, if it has one, replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def host_of(address: str) -> str:
    """The host of ``host:port``, ``[v6]:port`` or a URL's netloc."""
    address = address.strip().rsplit("@", 1)[-1]
    if "://" in address:
        address = address.split("://", 1)[1].split("/", 1)[0]
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(env: Mapping[str, str], name: str) -> bool:
    return (env.get(name) or "0").strip().lower() in ("1", "true", "yes", "on")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], upper: bool = False) -> str:
    raw = (env.get(name) or allowed[0]).strip()
    value = raw.upper() if upper else raw.lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return value


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (env.get(name) or "").split(",") if part.strip())


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from NAME, or from the file NAME_FILE names (as Docker and Kubernetes secrets are mounted)."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE names {path}, which cannot be read: {exc.strerror}") from exc


def _public_key(env: Mapping[str, str], name: str) -> bytes | None:
    """An Ed25519 public key in hex (64 digits) or base64, from NAME or the file NAME_FILE names."""
    raw = _secret(env, name)  # not a secret, but mounted the same way
    if raw is None:
        return None
    text = raw.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text.replace("-", "+").replace("_", "/"),
                                                                           validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{name} must be the engine's 32-byte Ed25519 public key in base64 or hex, as "
                          f"`kafkaban engine-key public` prints it; got {text[:80]!r}")
    return key


def _job_env_allow(env: Mapping[str, str]) -> tuple[str, ...]:
    """The variables a job inherits from its worker: the base list and what an operator adds, never Kafkaban's."""
    added = _names(env, "KAFKABAN_JOB_ENV_ALLOW")
    refused = [name for name in added if name.upper().startswith("KAFKABAN_")]
    if refused:
        raise ConfigError(f"KAFKABAN_JOB_ENV_ALLOW cannot pass Kafkaban's own settings to jobs: {', '.join(refused)}")
    return tuple(dict.fromkeys((*Settings.job_env_allow, *added)))


@dataclass(frozen=True)
class Settings:
    """Every setting, with the environment variable it comes from."""

    bootstrap: str | None = None  # KAFKABAN_BOOTSTRAP: Kafka bootstrap servers (unset: `kafkaban dev` starts a broker)
    # KAFKABAN_DATABASE_URL: PostgreSQL URL (unset: `kafkaban dev` starts one); secrets are kept out of repr()
    database_url: str | None = field(default=None, repr=False)
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
    # KAFKABAN_SNAPSHOT_INTERVAL: seconds between the engine's snapshots of each partition it owns (0: none)
    snapshot_interval_s: float = 30.0
    ended_grace_s: float = 300.0  # KAFKABAN_ENDED_GRACE: how long an ended execution's state stays in the engine
    ended_kept: int = 100_000  # KAFKABAN_ENDED_KEPT: ids of ended executions the engine remembers, beyond the grace
    embedded_broker: str = "kafka"  # KAFKABAN_EMBEDDED_BROKER: kafka, or tansu (the fallback without Java)
    kafka_home: str | None = None  # KAFKABAN_KAFKA_HOME: an unpacked Apache Kafka distribution to run
    cache_dir: str | None = None  # KAFKABAN_CACHE_DIR: where resolved broker jars are kept (~/.cache/kafkaban)
    kafka_heap: str = "512m"  # KAFKABAN_KAFKA_HEAP: -Xmx of each broker node Kafkaban starts
    # KAFKABAN_ENGINE_KEY: the secret the engine signs its events with; readers trust a producer=engine event only
    # with a valid signature. Unset: a built-in development key, which anyone can use to forge engine events
    engine_key: str | None = field(default=None, repr=False)
    # KAFKABAN_ENGINE_PUBLIC_KEY: the public key of the engine's end signatures (`kafkaban engine-key public`), all a
    # follower of ends needs; it cannot sign
    engine_public_key: bytes | None = None
    keep_workdirs: bool = False  # KAFKABAN_KEEP_WORKDIRS: 1 keeps each attempt's working directory (debugging)
    dev_stack: bool = False  # KAFKABAN_DEV_STACK: set by `kafkaban dev` for its parts (the API then tells the CLI)
    # -- access (README "Security") -------------------------------------------------------------------------------
    auth: str = "on"  # KAFKABAN_AUTH: on, or off (every request is an anonymous admin; loopback only)
    # KAFKABAN_TOKEN: the API token the CLI and the workers present
    token: str | None = field(default=None, repr=False)
    # KAFKABAN_ADMIN_TOKEN: a bootstrap token of the built-in `admin` (never stored)
    admin_token: str | None = field(default=None, repr=False)
    # KAFKABAN_SESSION_KEY: signs browser sessions (unset: random per API process)
    session_key: str | None = field(default=None, repr=False)
    api_hosts: tuple[str, ...] = ()  # KAFKABAN_API_HOSTS: Host names the API answers besides loopback and KAFKABAN_URL
    submit_rate: float = 50.0  # KAFKABAN_SUBMIT_RATE: submissions a second per principal (token bucket refill)
    submit_burst: int = 200  # KAFKABAN_SUBMIT_BURST: submissions a principal may make at once
    login_rate: float = 0.2  # KAFKABAN_LOGIN_RATE: failed logins a second per client and per user name
    # -- jobs (README "What a job can see") -----------------------------------------------------------------------
    job_env_allow: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")  # + KAFKABAN_JOB_ENV_ALLOW (comma list)
    job_user: str | None = None  # KAFKABAN_JOB_USER: the OS user jobs run as (Azkaban's execute.as.user)
    job_proxy_users: tuple[str, ...] = ()  # KAFKABAN_JOB_PROXY_USERS: users a job may ask for with user.to.proxy
    allow_root_jobs: bool = False  # KAFKABAN_ALLOW_ROOT_JOBS: 1 lets a worker running as root run jobs as root
    # -- secured Kafka and PostgreSQL (README "Running against a secured Kafka") ---------------------------------
    kafka_security_protocol: str = "PLAINTEXT"  # KAFKABAN_KAFKA_SECURITY_PROTOCOL: or SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str | None = None  # KAFKABAN_KAFKA_SASL_MECHANISM: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN
    kafka_username: str | None = None  # KAFKABAN_KAFKA_USERNAME
    kafka_password: str | None = field(default=None, repr=False)  # KAFKABAN_KAFKA_PASSWORD or ..._PASSWORD_FILE
    kafka_ca_file: str | None = None  # KAFKABAN_KAFKA_CA_FILE: CA certificate (PEM) that signed the brokers'
    kafka_cert_file: str | None = None  # KAFKABAN_KAFKA_CERT_FILE: client certificate (PEM), for mutual TLS
    kafka_key_file: str | None = None  # KAFKABAN_KAFKA_KEY_FILE: its private key (PEM)
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
            database_url=_secret(env, "KAFKABAN_DATABASE_URL"),
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
            snapshot_interval_s=_at_least(_float(env, "KAFKABAN_SNAPSHOT_INTERVAL", 30.0), 0,
                                          "KAFKABAN_SNAPSHOT_INTERVAL"),
            ended_grace_s=_at_least(_float(env, "KAFKABAN_ENDED_GRACE", 300.0), 0, "KAFKABAN_ENDED_GRACE"),
            ended_kept=int(_at_least(_int(env, "KAFKABAN_ENDED_KEPT", 100_000), 1, "KAFKABAN_ENDED_KEPT")),
            embedded_broker=embedded,
            kafka_home=env.get("KAFKABAN_KAFKA_HOME") or None,
            cache_dir=env.get("KAFKABAN_CACHE_DIR") or None,
            kafka_heap=heap,
            engine_key=_secret(env, "KAFKABAN_ENGINE_KEY"),
            engine_public_key=_public_key(env, "KAFKABAN_ENGINE_PUBLIC_KEY"),
            dev_stack=env.get("KAFKABAN_DEV_STACK") == "1",
            keep_workdirs=_flag(env, "KAFKABAN_KEEP_WORKDIRS"),
            auth=_choice(env, "KAFKABAN_AUTH", ("on", "off")),
            token=_secret(env, "KAFKABAN_TOKEN"),
            admin_token=_secret(env, "KAFKABAN_ADMIN_TOKEN"),
            session_key=_secret(env, "KAFKABAN_SESSION_KEY"),
            api_hosts=_names(env, "KAFKABAN_API_HOSTS"),
            submit_rate=_float(env, "KAFKABAN_SUBMIT_RATE", 50.0),
            submit_burst=_int(env, "KAFKABAN_SUBMIT_BURST", 200),
            login_rate=_float(env, "KAFKABAN_LOGIN_RATE", 0.2),
            job_env_allow=_job_env_allow(env),
            job_user=env.get("KAFKABAN_JOB_USER") or None,
            job_proxy_users=_names(env, "KAFKABAN_JOB_PROXY_USERS"),
            allow_root_jobs=_flag(env, "KAFKABAN_ALLOW_ROOT_JOBS"),
            kafka_security_protocol=_choice(env, "KAFKABAN_KAFKA_SECURITY_PROTOCOL",
                                            ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"), upper=True),
            kafka_sasl_mechanism=(env.get("KAFKABAN_KAFKA_SASL_MECHANISM") or "").upper() or None,
            kafka_username=env.get("KAFKABAN_KAFKA_USERNAME") or None,
            kafka_password=_secret(env, "KAFKABAN_KAFKA_PASSWORD"),
            kafka_ca_file=env.get("KAFKABAN_KAFKA_CA_FILE") or None,
            kafka_cert_file=env.get("KAFKABAN_KAFKA_CERT_FILE") or None,
            kafka_key_file=env.get("KAFKABAN_KAFKA_KEY_FILE") or None,
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

    def require_signing_key(self) -> bytes:
        """The key, refusing the public development key anywhere but a broker on this machine: with it, anyone
        who can write to the topics can forge the engine's decisions."""
        if self.engine_key is None and not all(is_loopback(host_of(s)) for s in self.require_bootstrap().split(",")):
            raise ConfigError("KAFKABAN_ENGINE_KEY is not set and the broker is not on this machine: the public "
                              "development key protects nothing there; set KAFKABAN_ENGINE_KEY to a long random "
                              "secret, the same for every engine, projector and auditor")
        return self.signing_key()

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    # -- topic names ----------------------------------------------------------------------------------------------

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def dispatch_topic(self, pool: str) -> str:
        return f"{self.topic_prefix}.dispatch.{pool}"

    def topic_kind(self, topic: str) -> str | None:
        """What ``topic`` and ``dispatch_topic`` made a name from (``executions``; ``dispatch`` for every pool's),
        or None for a topic that is not one of this deployment's."""
        prefix = f"{self.topic_prefix}."
        if not topic.startswith(prefix):
            return None
        return topic[len(prefix):].split(".", 1)[0] or None

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
    def snapshots_topic(self) -> str:
        return self.topic("snapshots")

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

    @property
    def access_topic(self) -> str:
        return self.topic("access")

    def worker_topics(self, pool: str) -> list[str]:
        """What a worker of ``pool`` reads and writes (and nothing else: its ACLs need nothing more)."""
        return [self.executions_topic, self.heartbeats_topic, self.control_topic, self.logs_topic,
                self.deadletter_topic, self.dispatch_topic(pool)]

    def base_topics(self) -> list[str]:
        return [self.executions_topic, self.heartbeats_topic, self.control_topic, self.deadletter_topic,
                self.logs_topic, self.definitions_topic, self.schedules_topic, self.access_topic,
                self.dispatch_topic("default")]
