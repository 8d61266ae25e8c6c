"""Kafkaban against a secured Apache Kafka: the launcher's one-node KRaft broker with a SASL_SSL listener (SCRAM-
SHA-256, a private CA made with keytool), the StandardAuthorizer and nothing allowed without an ACL.

A client without valid credentials is refused; engine, projector and worker, each as its own SCRAM user with the
ACLs of engine.kafka_acls, run a job to its end; and a worker's principal reads its own pool's dispatches only
and writes only what a worker writes."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType
from confluent_kafka.admin import ResourceType as Resource

from engine.broker.kafka_dist import runtime
from engine.broker.kafka_server import BrokerSecurity, KafkaCluster, self_signed_tls
from engine.clock import now_ms
from engine.codec import encode_event
from engine.config import ConfigError, Settings
from engine.domain import events as ev
from engine.domain.loader import load_flow
from engine.kafka import consumer_config, ensure_topics, producer_config, security_config
from engine.kafka_acls import api_acls, apply_acls, engine_acls, projector_acls, worker_acls
from projections.db import connect
from projections.queries import get_execution
from tests.integration.stack import Stack

USERS = ("engine", "projector", "worker", "api", "gpuworker", "nobody")
PASSWORDS = {user: secrets.token_urlsafe(18) for user in USERS}
WAIT_S = 120  # how long the checks below wait for something to happen before they fail
REFUSED_LISTING_S = 4  # a refused listing waits out its whole timeout, whatever it is
FLOW = load_flow("name: secured\nnodes:\n  - name: hello\n    type: command\n    config: {command: 'echo secured'}\n")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    root = tmp_path_factory.mktemp("secured-kafka")
    found = runtime(Settings.from_env())
    security = BrokerSecurity(admin_password=secrets.token_urlsafe(18), users=PASSWORDS,
                              tls=self_signed_tls(root / "tls", found.java))
    cluster = KafkaCluster(root / "kafka", 1, runtime=found, security=security)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def security_of(cluster: KafkaCluster) -> BrokerSecurity:
    assert cluster.security is not None
    return cluster.security


def settings_as(cluster: KafkaCluster, prefix: str, user: str | None = None) -> Settings:
    """Kafkaban's settings for ``user`` (the super user when None), read from the environment a part would get."""
    security = security_of(cluster)
    env = {"KAFKABAN_BOOTSTRAP": cluster.bootstrap, "KAFKABAN_TOPIC_PREFIX": prefix, "KAFKABAN_PARTITIONS": "3",
           **security.client_env(user or security.admin_user, PASSWORDS[user] if user else security.admin_password)}
    return Settings.from_env(env)


def granted(cluster: KafkaCluster, admin_settings: Settings, bindings: list[Any]) -> None:
    """Create ACLs and wait until the broker describes them: it applies them from the metadata log shortly after
    the controller commits them, and a part started in between would be refused."""
    apply_acls(admin_settings, bindings)
    admin = AdminClient(cluster.admin_config())
    principals = {b.principal for b in bindings}
    wanted = {(b.restype, b.name, b.resource_pattern_type, b.principal, b.operation) for b in bindings}
    deadline = time.monotonic() + WAIT_S
    while True:
        every = AclBindingFilter(Resource.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                 AclPermissionType.ANY)
        seen = {(b.restype, b.name, b.resource_pattern_type, b.principal, b.operation)
                for b in admin.describe_acls(every).result() if b.principal in principals}
        if wanted <= seen:
            return
        assert time.monotonic() < deadline, f"the broker does not describe {sorted(map(str, wanted - seen))}"
        time.sleep(0.2)


def first_error(client_config: dict[str, Any], topic: str) -> KafkaError:
    """The first error a producer reports (its error callback or the record's delivery report) producing to
    ``topic``."""
    errors: list[KafkaError] = []
    producer = Producer({**client_config, "error_cb": errors.append, "logger": quiet_logger()})
    producer.produce(topic, b"v", on_delivery=lambda error, _message: errors.append(error) if error else None)
    deadline = time.monotonic() + WAIT_S
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    assert errors, "the producer reported no error"
    return errors[0]


def quiet_logger() -> logging.Logger:
    """librdkafka logs each refused connection; these tests expect them."""
    quiet = logging.getLogger("tests.secured-kafka")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    return quiet


# -- a client without credentials is refused ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["no TLS, no SASL", "TLS without SASL"])
def test_a_client_that_does_not_authenticate_cannot_list_topics(secured: KafkaCluster, how: str):
    config: dict[str, Any] = {"bootstrap.servers": secured.bootstrap, "logger": quiet_logger()}
    if how == "TLS without SASL":
        tls = security_of(secured).tls
        assert tls is not None
        config |= {"security.protocol": "SSL", "ssl.ca.location": str(tls.ca_file)}
    with pytest.raises(KafkaException):  # a refused client never lists: it only retries until the timeout
        AdminClient(config).list_topics(timeout=REFUSED_LISTING_S)


@pytest.mark.parametrize("user", ["engine", "somebody-unknown"])
def test_a_wrong_password_is_an_authentication_error_for_listing_and_producing(secured: KafkaCluster, user: str):
    config = {"bootstrap.servers": secured.bootstrap, **security_of(secured).client_config(user, "not-the-password")}
    # the listing fails as a transport failure; the reason comes through the error callback
    reasons: list[KafkaError] = []
    admin = AdminClient({**config, "logger": quiet_logger(), "error_cb": reasons.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=REFUSED_LISTING_S)
    deadline = time.monotonic() + WAIT_S
    while not reasons and time.monotonic() < deadline:
        admin.poll(0.2)
    assert KafkaError._AUTHENTICATION in {r.code() for r in reasons}, reasons
    error = first_error(config, "anything")
    assert error.code() == KafkaError._AUTHENTICATION, error


def test_half_configured_security_is_refused_and_the_password_never_shows(tmp_path: Path):
    password = secrets.token_urlsafe(18)
    base = {"KAFKABAN_BOOTSTRAP": "127.0.0.1:9092", "KAFKABAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKABAN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKABAN_KAFKA_USERNAME": "u"}
    with pytest.raises(ConfigError, match="KAFKABAN_KAFKA_PASSWORD"):
        security_config(Settings.from_env(base))
    (tmp_path / "password").write_text(password + "\n")
    from_file = Settings.from_env({**base, "KAFKABAN_KAFKA_PASSWORD_FILE": str(tmp_path / "password")})
    assert security_config(from_file)["sasl.password"] == password
    assert password not in repr(from_file)
    with pytest.raises(ConfigError) as no_key:  # a client certificate without its key
        security_config(from_file.with_(kafka_cert_file=str(tmp_path / "password")))
    assert password not in str(no_key.value)
    with pytest.raises(ConfigError, match="SECURITY_PROTOCOL is PLAINTEXT"):  # credentials that would go unused
        security_config(Settings.from_env({"KAFKABAN_KAFKA_USERNAME": "u", "KAFKABAN_KAFKA_PASSWORD": password}))


# -- every part works with its credentials and ACLs -----------------------------------------------------------------


def test_engine_projector_and_worker_run_a_job_each_as_its_own_user(secured: KafkaCluster, new_database: Any,
                                                                   tmp_path: Path):
    security = security_of(secured)
    engine_key = secrets.token_urlsafe(32)
    stack = Stack(secured.bootstrap, new_database(), tmp_path, partitions=3,
                  extra_env={"KAFKABAN_ENGINE_KEY": engine_key})
    admin = settings_as(secured, stack.prefix)
    # the worker, projector and API may not create topics: the operator (here the super user) does
    ensure_topics(admin, stack.settings.base_topics())
    part = {user: settings_as(secured, stack.prefix, user) for user in ("engine", "projector", "worker", "api")}
    granted(secured, admin, [*engine_acls(part["engine"], "User:engine"),
                             *projector_acls(part["projector"], "User:projector"),
                             *worker_acls(part["worker"], "default", "User:worker"),
                             *api_acls(part["api"], "User:api")])
    base_env = dict(stack.env)
    password_file = tmp_path / "worker-password"
    password_file.touch(mode=0o600)
    password_file.write_text(PASSWORDS["worker"])
    try:
        for name, argv in (("engine", ["engine"]), ("projector", ["projector"])):
            stack.env = {**base_env, **security.client_env(name, PASSWORDS[name])}
            stack.spawn(name, *argv)
        # the worker reads its password from a file, as from a mounted secret
        worker_env = security.client_env("worker", PASSWORDS["worker"])
        del worker_env["KAFKABAN_KAFKA_PASSWORD"]
        stack.env = {**base_env, **worker_env, "KAFKABAN_KAFKA_PASSWORD_FILE": str(password_file)}
        stack.spawn("worker", "worker", "--pool", "default", "--slots", "2")

        execution_id = str(uuid.uuid4())
        event = ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "external",
                         ev.ExecutionSubmitted(FLOW.name, FLOW.version_hash(), FLOW, {}, "tests", None))
        reports: list[KafkaError | None] = []
        producer = Producer(producer_config(part["api"]))  # as the API writes a submission
        producer.produce(stack.settings.executions_topic, key=execution_id.encode(), value=encode_event(event),
                         on_delivery=lambda error, _m: reports.append(error))
        assert producer.flush(30) == 0 and reports == [None], reports

        found = wait_projected(stack, execution_id)
        assert found is not None and found["status"] == "SUCCEEDED", f"{found}\n{stack.logs()}"
        [job] = found["jobs"]
        assert job["status"] == "SUCCEEDED" and job["worker_id"], job
        for name in ("engine", "projector", "worker"):
            assert stack.processes[name].poll() is None, f"{name} exited:\n{stack.log(name)}"
    finally:
        stack.stop()
    logs = stack.logs()
    for secret in (*PASSWORDS.values(), security.admin_password, engine_key):
        assert secret not in logs, "a part logged a secret"


def wait_projected(stack: Stack, execution_id: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_S
    found = None
    while time.monotonic() < deadline:
        for name, process in stack.processes.items():
            assert process.poll() is None, f"{name} exited:\n{stack.log(name)}"
        try:
            with connect(stack.settings.require_database(), stack.settings.database_schema) as conn:
                found = get_execution(conn, execution_id)
        except psycopg.Error:
            found = None  # the projector has not made its tables yet
        if found is not None and found["status"] in ("SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"):
            return found
        time.sleep(0.3)
    return found


# -- a worker's ACLs: its own pool only ----------------------------------------------------------------------------


def test_a_workers_principal_reads_only_its_pools_dispatches_and_writes_only_what_a_worker_writes(
        secured: KafkaCluster):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    admin = settings_as(secured, prefix)
    gpu = settings_as(secured, prefix, "gpuworker")
    ensure_topics(admin, [*admin.base_topics(), admin.dispatch_topic("gpu"), admin.dispatch_topic("cpu")])
    granted(secured, admin, worker_acls(gpu, "gpu", "User:gpuworker"))
    feeder = Producer(producer_config(admin))
    for pool in ("gpu", "cpu"):
        feeder.produce(admin.dispatch_topic(pool), key=b"k", value=f"for {pool}".encode())
    assert feeder.flush(30) == 0

    # its own pool's topic, in its pool's group, as the worker subscribes to it
    own = Consumer(consumer_config(gpu, f"{prefix}.workers.gpu", **{"logger": quiet_logger()}))
    own.subscribe([gpu.dispatch_topic("gpu")])
    assert [m.value() for m in records(own, 1)] == [b"for gpu"]
    own.close()

    # another pool's topic is refused, in the worker's own group
    other = Consumer(consumer_config(gpu, f"{prefix}.workers.gpu", **{"logger": quiet_logger()}))
    other.subscribe([gpu.dispatch_topic("cpu")])
    error = first_consumer_error(other)
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    # and its metadata is not even described to it
    cpu_topic = gpu.dispatch_topic("cpu")
    described = other.list_topics(cpu_topic, timeout=10).topics[cpu_topic]
    assert described.error is not None and described.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    other.close()
    # and so is its pool's group under another pool's name
    stolen = Consumer(consumer_config(gpu, f"{prefix}.workers.cpu", **{"logger": quiet_logger()}))
    stolen.subscribe([gpu.dispatch_topic("gpu")])
    group_error = first_consumer_error(stolen)
    stolen.close()
    assert group_error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, group_error

    # it writes job events; definitions are not its to write
    reports: dict[str, KafkaError | None] = {}
    producer = Producer(producer_config(gpu, **{"logger": quiet_logger()}))
    for topic in (gpu.executions_topic, gpu.definitions_topic):
        producer.produce(topic, value=b"x", on_delivery=lambda e, m, t=topic: reports.__setitem__(t, e))
    producer.flush(WAIT_S)
    assert reports[gpu.executions_topic] is None, reports
    refused = reports[gpu.definitions_topic]
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused


def records(consumer: Consumer, count: int) -> list[Any]:
    found: list[Any] = []
    deadline = time.monotonic() + WAIT_S
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            found.append(message)
    return found


def first_consumer_error(consumer: Consumer) -> KafkaError:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is not None, f"read {message.topic()}@{message.offset()}: it was not refused"
            return message.error()
    raise AssertionError("the consumer was neither refused nor given a record")
