"""Apache Kafka in KRaft mode, run by Kafkaban itself: one combined broker+controller node, or a cluster of them.

Each node is a ``java kafka.Kafka server.properties`` process, as Apache Kafka's ``bin/kafka-server-start.sh``
starts it, with storage formatted once by ``kafka.tools.StorageTool format`` (``bin/kafka-storage.sh``) and the
static voter set of ``config/kraft/server.properties``. Everything a cluster keeps lives under one directory:

    <root>/cluster.json                 cluster id and the ports of each node (reused on restart when free)
    <root>/node-<id>/server.properties  the node's configuration, written at every start
    <root>/node-<id>/data/              its log directory (topics and the KRaft metadata log)
    <root>/node-<id>/server.log         what the broker logs (WARN and above, plus start and stop)

so a cluster stopped and started again on the same root keeps every topic and record.

With ``security=BrokerSecurity(...)`` the client listener takes SASL/SCRAM (over TLS when ``tls`` is given), the
StandardAuthorizer refuses whatever no ACL allows, and the broker itself is the one super user. Its SCRAM users are
created when the storage is formatted, so a root first formatted without them has none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from engine.broker.embedded import free_port, port_free
from engine.broker.kafka_dist import MAIN_CLASS, STORAGE_TOOL, KafkaRuntime, runtime
from engine.config import Settings
from engine.polling import poll_until
from engine.processes import die_with_parent

# as Apache Kafka's bin/kafka-run-class.sh runs a broker (KAFKA_JVM_PERFORMANCE_OPTS)
JVM_OPTS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]
DEFAULT_HEAP = Settings.kafka_heap

LOG4J2 = """status = error
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
# a secret goes into JAAS text and a format command line unquoted: keep it to characters neither can misread
SAFE_SECRET = re.compile(r"[A-Za-z0-9._~+/=-]{8,}")


@dataclass(frozen=True)
class BrokerTls:
    """What a TLS listener needs: the broker's key and certificate, and the CA that signed it."""

    keystore: Path  # PKCS12: the broker's key and certificate chain
    truststore: Path  # PKCS12: the CA, for the broker's own connections to its listener
    password: str  # of both stores (and the key)
    ca_file: Path  # PEM: the CA certificate, for clients (KAFKABAN_KAFKA_CA_FILE)


@dataclass(frozen=True)
class BrokerSecurity:
    """A SASL client listener (SCRAM), ACLs enforced, nothing allowed without one; ``admin`` is the super user
    the broker itself connects as. ``users`` are more SCRAM users (name -> password) created at format time."""

    admin_password: str = field(repr=False)
    admin_user: str = "admin"
    mechanism: str = "SCRAM-SHA-256"
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    tls: BrokerTls | None = None

    def __post_init__(self) -> None:
        if self.mechanism not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise ValueError(f"the launcher's SASL listener takes SCRAM-SHA-256 or SCRAM-SHA-512, not {self.mechanism}")
        for name, password in {self.admin_user: self.admin_password, **self.users}.items():
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not SAFE_SECRET.fullmatch(password):
                raise ValueError(f"SCRAM user {name!r}: names take letters, digits . _ -; passwords at least 8 "
                                 f"of letters, digits . _ ~ + / = -")

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    def client_env(self, user: str, password: str) -> dict[str, str]:
        """The KAFKABAN_KAFKA_* variables with which a Kafkaban part connects as ``user``."""
        env = {"KAFKABAN_KAFKA_SECURITY_PROTOCOL": self.protocol, "KAFKABAN_KAFKA_SASL_MECHANISM": self.mechanism,
               "KAFKABAN_KAFKA_USERNAME": user, "KAFKABAN_KAFKA_PASSWORD": password}
        if self.tls:
            env["KAFKABAN_KAFKA_CA_FILE"] = str(self.tls.ca_file)
        return env

    def client_config(self, user: str | None = None, password: str | None = None) -> dict[str, str]:
        """librdkafka settings for ``user`` (the super user by default)."""
        config = {"security.protocol": self.protocol, "sasl.mechanism": self.mechanism,
                  "sasl.username": user or self.admin_user, "sasl.password": password or self.admin_password}
        if self.tls:
            config["ssl.ca.location"] = str(self.tls.ca_file)
        return config

    def server_properties(self, node_port: int, controller_port: int) -> dict[str, Any]:
        user, password = self.admin_user, self.admin_password
        scram = self.mechanism.lower()
        properties: dict[str, Any] = {
            "listeners": f"CLIENT://127.0.0.1:{node_port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"CLIENT://127.0.0.1:{node_port}",
            "inter.broker.listener.name": "CLIENT",
            "listener.security.protocol.map": f"CONTROLLER:SASL_PLAINTEXT,CLIENT:{self.protocol}",
            "listener.name.client.sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"listener.name.client.{scram}.sasl.jaas.config":
                f'{SCRAM_MODULE} required username="{user}" password="{password}";',
            # KRaft controllers cannot take SCRAM (its credentials live in the metadata they serve): PLAIN with the
            # one static user, so the controller port is no unauthenticated way in either
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'{PLAIN_MODULE} required username="{user}" password="{password}" user_{user}="{password}";',
            "authorizer.class.name": AUTHORIZER,
            "super.users": f"User:{user}",
            "allow.everyone.if.no.acl.found": "false",
        }
        if self.tls:
            for prefix in ("listener.name.client.", ""):  # "" : the broker's own client side of that listener
                properties |= {f"{prefix}ssl.truststore.location": self.tls.truststore,
                               f"{prefix}ssl.truststore.password": self.tls.password,
                               f"{prefix}ssl.truststore.type": "PKCS12"}
            properties |= {"listener.name.client.ssl.keystore.location": self.tls.keystore,
                           "listener.name.client.ssl.keystore.password": self.tls.password,
                           "listener.name.client.ssl.key.password": self.tls.password,
                           "listener.name.client.ssl.keystore.type": "PKCS12"}
        return properties

    def format_arguments(self) -> list[str]:
        return [arg for name, password in {self.admin_user: self.admin_password, **self.users}.items()
                for arg in ("--add-scram", f"{self.mechanism}=[name={name},password={password}]")]


def self_signed_tls(directory: Path, java: Path, days: int = 30) -> BrokerTls:
    """A private CA and a broker certificate it signed for 127.0.0.1 and localhost, made with the JDK's keytool
    (nothing to install besides the Java the broker needs). For tests and local set-ups: no CA outside trusts it."""
    keytool = java.resolve().parent / "keytool"
    if not keytool.exists():
        found = shutil.which("keytool")
        if not found:
            raise RuntimeError(f"no keytool beside {java} or on PATH: it makes the broker's TLS certificate")
        keytool = Path(found)
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    ca_store, keystore, truststore = directory / "ca.p12", directory / "broker.p12", directory / "truststore.p12"
    ca_file, request, signed = directory / "ca.pem", directory / "broker.csr", directory / "broker.pem"
    for stale in (ca_store, keystore, truststore):
        stale.unlink(missing_ok=True)  # keytool adds to an existing store and refuses a second entry of an alias
    store = ["-storetype", "PKCS12", "-storepass", password, "-keypass", password]
    steps = [
        ["-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=Kafkaban local CA",
         "-ext", "bc:c", "-validity", str(days), "-keystore", str(ca_store), *store],
        ["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-storepass", password,
         "-file", str(ca_file)],
        ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=localhost",
         "-validity", str(days), "-keystore", str(keystore), *store],
        ["-certreq", "-alias", "broker", "-keystore", str(keystore), "-storepass", password, "-file", str(request)],
        # clients check the broker's name: the certificate names the loopback address the listener advertises
        ["-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-storepass", password,
         "-infile", str(request), "-outfile", str(signed), "-validity", str(days),
         "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "KU=digitalSignature,keyEncipherment",
         "-ext", "EKU=serverAuth,clientAuth"],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_file), "-keystore", str(keystore), *store],
        ["-importcert", "-noprompt", "-alias", "broker", "-file", str(signed), "-keystore", str(keystore), *store],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_file), "-keystore", str(truststore), *store],
    ]
    for step in steps:
        done = subprocess.run([str(keytool), *step], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            # keytool's output names files and aliases, never the store password
            raise RuntimeError(f"keytool {step[0]} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    for path in (ca_store, keystore, truststore):
        path.chmod(0o600)
    return BrokerTls(keystore, truststore, password, ca_file)


@dataclass
class KafkaNode:
    node_id: int
    directory: Path
    port: int
    controller_port: int
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL: the node dies without a controlled shutdown, as in a crash."""
        if self.process is not None:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the node stops answering but keeps its sockets open, like a long GC pause or a partition."""
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL if it has not ended within ``timeout``."""
        if self.process is None:
            return
        self.resume()  # a paused node cannot act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        text = ""
        for name in ("stdout.log", "server.log"):
            path = self.directory / name
            if path.exists():
                text += f"--- {path.name} ---\n" + path.read_text(errors="replace")[-chars:]
        return text


@dataclass
class KafkaCluster:
    """``size`` KRaft nodes on loopback, each both broker and controller, with replication up to 3."""

    root: Path
    size: int = 1
    heap: str = DEFAULT_HEAP
    fast_failover: bool = False  # shorter broker session: a killed node is fenced in ~3 s instead of ~9 s
    security: BrokerSecurity | None = None  # SASL (and TLS) on the client listener, ACLs enforced
    nodes: list[KafkaNode] = field(default_factory=list)
    cluster_id: str = ""
    runtime: KafkaRuntime | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def replication(self) -> int:
        return min(self.size, 3)

    @property
    def min_insync(self) -> int:
        return 2 if self.replication >= 3 else 1

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def admin_config(self, bootstrap: str | None = None) -> dict[str, Any]:
        """An AdminClient's settings, as the super user when the cluster is secured."""
        security = self.security.client_config() if self.security else {}
        return {"bootstrap.servers": bootstrap or self.bootstrap, "logger": _quiet_logger(), **security}

    # -- life cycle ---------------------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0, progress: Callable[[str], None] | None = None) -> KafkaCluster:
        self.runtime = self.runtime or runtime(Settings.from_env(), progress)
        self.root.mkdir(parents=True, exist_ok=True)
        self._load_or_plan()
        try:
            for node in self.nodes:
                self._write_config(node)
                if not (node.data_dir / "meta.properties").exists():
                    self._format(node)
            for node in self.nodes:
                self.start_node(node.node_id, wait=False)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, node_id: int, wait: bool = True, timeout: float = 60.0) -> None:
        """Start (or restart) one node on its own ports and data."""
        node = self.node(node_id)
        if node.running():
            return
        assert self.runtime is not None
        out = open(node.directory / "stdout.log", "ab")
        try:
            node.process = subprocess.Popen(
                [str(self.runtime.java), f"-Xmx{self.heap}", "-Xms64m", *JVM_OPTS,
                 f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
                 "-cp", self.runtime.classpath, MAIN_CLASS, str(node.directory / "server.properties")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent)  # nodes get SIGTERM when the process that started them dies
        finally:
            out.close()
        if wait:
            self.wait_ready(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every node at once, SIGKILL to those still running after ``timeout``.

        A lone node shuts down in well under a second. In a cluster the last nodes to go wait for a controller
        quorum that has already left, so they are killed; their logs recover on the next start."""
        for node in self.nodes:
            if node.running():
                node.signal(signal.SIGCONT)
                node.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.stop(timeout=max(deadline - time.monotonic(), 0.1))

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until every running node is a registered broker that answers metadata requests."""
        admin = AdminClient(self.admin_config())
        wanted = {node.node_id for node in self.nodes if node.process is not None}

        def registered() -> bool | None:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None and node.node_id in wanted:
                    raise RuntimeError(f"Kafka node {node.node_id} exited with code {node.process.returncode} "
                                       f"while starting:\n{node.log_tail()}")
            with contextlib.suppress(Exception):
                if wanted <= set(admin.list_topics(timeout=2).brokers):
                    return True
            return None

        if poll_until(registered, timeout, every=0.2) is None:
            tails = "\n".join(node.log_tail(1500) for node in self.nodes)
            raise TimeoutError(f"Kafka did not answer with brokers {sorted(wanted)} within {timeout:g} s\n{tails}")

    # -- inspection ---------------------------------------------------------------------------------------------

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> id of the node leading it (-1 while it has none), as the running, unpaused nodes say."""
        answering = ",".join(n.address for n in self.nodes if n.running() and not n.paused) or self.bootstrap
        admin = AdminClient(self.admin_config(answering))
        metadata = admin.list_topics(topic, timeout=10).topics[topic]
        return {p: info.leader for p, info in metadata.partitions.items()}

    # -- set-up -------------------------------------------------------------------------------------------------

    def _load_or_plan(self) -> None:
        """Reuse the cluster id and ports recorded under root (ports taken by now get new ones), else plan anew."""
        state_file = self.root / "cluster.json"
        known: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
        if known and known.get("size") != self.size:
            raise RuntimeError(f"{self.root} holds a {known.get('size')}-node cluster, not a {self.size}-node one")
        self.cluster_id = known.get("cluster_id") or _new_cluster_id()
        planned: list[KafkaNode] = []
        taken: set[int] = set()
        for index in range(self.size):
            node_id = index + 1
            ports = known.get("nodes", {}).get(str(node_id), {})
            port, controller = (_reuse_port(ports.get("port"), taken), _reuse_port(ports.get("controller"), taken))
            planned.append(KafkaNode(node_id, self.root / f"node-{node_id}", port, controller))
        self.nodes = planned
        state = {"size": self.size, "cluster_id": self.cluster_id,
                 "nodes": {str(n.node_id): {"port": n.port, "controller": n.controller_port} for n in planned}}
        state_file.write_text(json.dumps(state, indent=1) + "\n")

    def _write_config(self, node: KafkaNode) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        replication, min_isr = self.replication, self.min_insync
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": node.data_dir,
            "num.partitions": 1,
            "default.replication.factor": replication,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": 10,  # 50 by default: each costs time when the first group joins
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
            "unclean.leader.election.enable": "false",
            # every consumer-group join would otherwise wait 3 s for more members
            "group.initial.rebalance.delay.ms": 0,
            "group.min.session.timeout.ms": 1000,  # tests may shorten sessions (6 s is Kafka's floor otherwise)
            "log.retention.hours": -1,  # a dev stack's history is its point: keep it
        }
        if self.fast_failover:
            settings |= {"broker.heartbeat.interval.ms": 500, "broker.session.timeout.ms": 3000}
        if self.security:
            settings |= self.security.server_properties(node.port, node.controller_port)
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        properties = node.directory / "server.properties"
        properties.touch(mode=0o600)  # it may hold the broker's own password: readable by its owner alone
        properties.chmod(0o600)
        properties.write_text(text)
        (node.directory / "log4j2.properties").write_text(LOG4J2.format(log=node.directory / "server.log"))

    def _format(self, node: KafkaNode) -> None:
        assert self.runtime is not None
        done = subprocess.run(
            [str(self.runtime.java), "-Xmx256m", "-cp", self.runtime.classpath,
             f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}", STORAGE_TOOL, "format",
             f"--cluster-id={self.cluster_id}", "-c", str(node.directory / "server.properties"),
             *(self.security.format_arguments() if self.security else [])],
            capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            output = f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            if self.security:  # a usage message may echo the command line, and with it the SCRAM passwords
                for secret in {self.security.admin_password, *self.security.users.values()}:
                    output = output.replace(secret, "***")
            raise RuntimeError(f"formatting the storage of Kafka node {node.node_id} failed:\n{output}")


def _new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage random-uuid). Like
    Kafka's Uuid.randomUuid, never one starting with '-': a command line would read it as an option (1 in 64 did,
    and formatting failed with a usage message)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not found.startswith("-"):
            return found


def _reuse_port(port: int | None, taken: set[int]) -> int:
    chosen = port if port and port not in taken and port_free(port) else free_port()
    while chosen in taken:
        chosen = free_port()
    taken.add(chosen)
    return chosen


def _quiet_logger() -> logging.Logger:
    """librdkafka logs every refused connection while a node starts; that is expected, so it is not printed."""
    quiet = logging.getLogger("kafkaban.kafka-admin")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    return quiet
