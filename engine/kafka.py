"""Kafka plumbing shared by every process: client settings, topic creation, dead-lettering."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from engine.config import ConfigError, Settings
from engine.polling import poll_until

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

log = logging.getLogger("kafkaban.kafka")

# Every producer must place a key on the partition the engine (aiokafka, murmur2) expects: all events of one
# execution share a partition, and heartbeats are co-partitioned with executions.
PARTITIONER = "murmur2_random"

HEADER_REASON = "kafkaban.reason"
HEADER_TOPIC = "kafkaban.source.topic"
HEADER_PARTITION = "kafkaban.source.partition"
HEADER_OFFSET = "kafkaban.source.offset"


# the largest record a producer sends (librdkafka's message.max.bytes default, under the broker's 1 MiB), and what
# the batch framing, key and headers take of it: a value must fit in the difference
MAX_RECORD_BYTES = 1_000_000
RECORD_OVERHEAD_BYTES = 4_096


def fits_in_a_record(value: bytes) -> bool:
    return len(value) <= MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES


SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")


def security_config(settings: Settings) -> dict[str, str]:
    """librdkafka's security settings from the KAFKABAN_KAFKA_* variables; empty for PLAINTEXT.

    The result holds the password: it goes to a client's constructor and nowhere else (never into a log line or
    an error message). A half-configured set-up is refused rather than run without the protection it asks for."""
    protocol = settings.kafka_security_protocol
    tls_files = {"KAFKABAN_KAFKA_CA_FILE": settings.kafka_ca_file, "KAFKABAN_KAFKA_CERT_FILE": settings.kafka_cert_file,
                 "KAFKABAN_KAFKA_KEY_FILE": settings.kafka_key_file}
    sasl = protocol.startswith("SASL_")
    if not sasl and (settings.kafka_username or settings.kafka_password or settings.kafka_sasl_mechanism):
        raise ConfigError(f"KAFKABAN_KAFKA_USERNAME/PASSWORD/SASL_MECHANISM are set but "
                          f"KAFKABAN_KAFKA_SECURITY_PROTOCOL is {protocol}: set it to SASL_SSL or SASL_PLAINTEXT")
    if protocol not in TLS_PROTOCOLS and any(tls_files.values()):
        named = ", ".join(name for name, value in tls_files.items() if value)
        raise ConfigError(f"{named} set but KAFKABAN_KAFKA_SECURITY_PROTOCOL is {protocol}: set it to SSL or "
                          f"SASL_SSL for TLS")
    if protocol == "PLAINTEXT":
        return {}
    config = {"security.protocol": protocol}
    if sasl:
        mechanism = settings.kafka_sasl_mechanism
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"KAFKABAN_KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKABAN_KAFKA_SASL_MECHANISM, one "
                              f"of {', '.join(SASL_MECHANISMS)} (got {mechanism or 'nothing'})")
        if not settings.kafka_username or not settings.kafka_password:
            raise ConfigError(f"KAFKABAN_KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKABAN_KAFKA_USERNAME and "
                              f"KAFKABAN_KAFKA_PASSWORD (or KAFKABAN_KAFKA_PASSWORD_FILE)")
        config |= {"sasl.mechanism": mechanism, "sasl.username": settings.kafka_username,
                   "sasl.password": settings.kafka_password}
    if protocol in TLS_PROTOCOLS:
        if bool(settings.kafka_cert_file) != bool(settings.kafka_key_file):
            raise ConfigError("KAFKABAN_KAFKA_CERT_FILE and KAFKABAN_KAFKA_KEY_FILE go together (mutual TLS)")
        for name, path in tls_files.items():
            # librdkafka's own message for a missing file does not name the setting
            if path and not os.path.isfile(path):
                raise ConfigError(f"{name} names {path}, which is not a readable file")
        for key, path in (("ssl.ca.location", settings.kafka_ca_file),
                          ("ssl.certificate.location", settings.kafka_cert_file),
                          ("ssl.key.location", settings.kafka_key_file)):
            if path:
                config[key] = path
    return config


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for Python clients (aiokafka, under faust): the same CA and client certificate as
    librdkafka's, with hostname checking; None unless the protocol is SSL or SASL_SSL."""
    security_config(settings)  # the same checks, the same messages
    if settings.kafka_security_protocol not in TLS_PROTOCOLS:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ca_file)  # None: the system's CAs
    if settings.kafka_cert_file and settings.kafka_key_file:
        context.load_cert_chain(settings.kafka_cert_file, settings.kafka_key_file)
    return context


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """faust's ``broker_credentials`` for the same settings (faust hands them to aiokafka)."""
    import faust  # only the engine runs faust; the other parts should not pay for importing it

    context = ssl_context(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    # a context makes faust ask for SASL_SSL, none SASL_PLAINTEXT
    return faust.SASLCredentials(username=settings.kafka_username, password=settings.kafka_password,
                                 mechanism=settings.kafka_sasl_mechanism, ssl_context=context)


def admin_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": settings.require_bootstrap(), **security_config(settings), **extra}


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    # idempotence: a produce retried after a broker failover is not appended twice (and implies acks=all)
    return {"bootstrap.servers": settings.require_bootstrap(), "partitioner": PARTITIONER, "linger.ms": 2,
            "enable.idempotence": settings.idempotent_producers, "acks": "all",
            "message.max.bytes": MAX_RECORD_BYTES, **security_config(settings), **extra}


METADATA_REFRESH_MS = 10_000


def consumer_config(settings: Settings, group: str, **extra: Any) -> dict[str, Any]:
    return {"bootstrap.servers": settings.require_bootstrap(), "group.id": group, **security_config(settings),
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": max(settings.session_timeout_ms // 5, 500),
            # a broker that holds a fetch for its whole wait (tansu does) would add this much to every hop
            "fetch.wait.max.ms": settings.fetch_wait_ms,
            # a topic made just before subscribing can be unknown to the node that answers the first metadata
            # request of a cluster; librdkafka leaves it out of the subscription until the next refresh (5 min
            # by default): a projector on a fresh 3-node cluster missed its definitions topic that long
            "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
            "auto.offset.reset": "earliest", **extra}


def ensure_topics(settings: Settings, topics: Iterable[str], timeout: float = 30.0, partitions: int | None = None,
                  config: Mapping[str, str] | None = None) -> None:
    """Create the topics that do not exist yet, with the configured partition count; wait until they exist.

    On a cluster with ACLs a principal sees only the topics it may describe, and may lack CREATE: a topic it may
    not create is left to the operator (with a warning) instead of failing the start-up."""
    admin = AdminClient(admin_config(settings))
    wanted = set(topics)
    missing: list[str] = []

    def created() -> bool | None:
        nonlocal missing
        missing = sorted(wanted - set(admin.list_topics(timeout=10).topics))
        if not missing:
            return True
        futures = admin.create_topics([NewTopic(t, partitions or settings.partitions, settings.replication,
                                                config=dict(config or {})) for t in missing])
        for topic, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                code = exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None
                if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED):
                    log.warning("topic %s is not visible to this principal and it may not create it: it must be "
                                "created by the operator, with ACLs for this part (README: Running against a secured "
                                "Kafka)", topic)
                    wanted.discard(topic)
                elif "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise
        return None

    if poll_until(created, timeout) is None:
        raise TimeoutError(f"topics not visible after {timeout} s: {missing}")


def positions_reached(consumer: Consumer, ends: Mapping[tuple[str, int], int]) -> set[tuple[str, int]]:
    """The (topic, partition)s of ``ends`` whose consumer position has reached the given end offset.

    Read-to-end loops ask this when a poll brings nothing: under exactly_once a log holds transaction markers and
    aborted records, which are never delivered, so the offset after the last record received can stay short of
    the end for good; the position steps over them."""
    if not ends:
        return set()
    positions = consumer.position([TopicPartition(topic, partition) for topic, partition in ends])
    return {(tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]}


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [(HEADER_REASON, reason.encode()), (HEADER_TOPIC, topic.encode()),
            (HEADER_PARTITION, str(partition).encode()), (HEADER_OFFSET, str(offset).encode())]


def dead_letter_origin(headers: Iterable[tuple[str, bytes | None]],
                       ) -> tuple[str | None, str | None, int | None, int | None]:
    """(reason, source topic, partition, offset) as ``dead_letter_headers`` wrote them. Anyone who may write the
    dead-letter topic can put anything there: a header that is missing or not a number is None, never an error."""
    found = dict(headers)

    def text(name: str) -> str | None:
        raw = found.get(name)
        return raw.decode(errors="replace") if raw is not None else None

    def number(name: str) -> int | None:
        try:
            return int(found.get(name) or b"")
        except ValueError:
            return None

    return text(HEADER_REASON), text(HEADER_TOPIC), number(HEADER_PARTITION), number(HEADER_OFFSET)


def send_dead_letter(producer: Producer, settings: Settings, key: bytes | None, value: bytes | None, reason: str,
                     topic: str, partition: int, offset: int) -> None:
    producer.produce(settings.deadletter_topic, key=key, value=value,
                     headers=dead_letter_headers(reason, topic, partition, offset))
