"""Java programs the tests run as other teams' services: their jars resolved through Maven once into Kafkaban's
cache directory (as engine/broker/kafka_dist.py resolves the broker's), their sources compiled once per content.

Nothing here is part of Kafkaban; it exists so the contract tests run a producer written in another language.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.broker.kafka_dist import KAFKA_VERSION, BrokerUnavailable, find_java
from engine.config import Settings
from engine.paths import cache_dir

AVRO_VERSION = "1.12.0"
JAVA_SOURCES = Path(__file__).resolve().parents[1] / "java"

# What another team's producer depends on: the Kafka client of the broker's version and Apache Avro, nothing of
# Kafkaban. slf4j-simple (of the slf4j-api kafka-clients brings) so that the clients' warnings reach the test's output.
CLIENT_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkaban-tests</groupId><artifactId>java-producer</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.avro</groupId><artifactId>avro</artifactId>
      <version>{avro}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId>
      <version>1.7.36</version></dependency>
  </dependencies>
</project>
"""


class JavaUnavailable(RuntimeError):
    """No JDK, no Maven or no reachable Maven repository: the message says which."""


@dataclass(frozen=True)
class JavaProgram:
    java: Path
    classpath: str

    def command(self, main_class: str, *args: str) -> list[str]:
        # warnings only: kafka-clients logs its whole configuration at INFO
        return [str(self.java), "-Xmx256m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", self.classpath,
                main_class, *args]


def locked_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(staging_dir)`` once for ``target``; concurrent callers wait for the first and reuse its work."""
    if (target / "complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "complete").exists():
            return target
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            staged = Path(work) / "out"
            staged.mkdir()
            build(staged)
            (staged / "complete").write_text("ok\n")
            shutil.rmtree(target, ignore_errors=True)
            staged.rename(target)
    return target


def resolve_maven(target: Path, pom: str, what: str) -> Path:
    """``target-<pom digest>/libs``: the runtime dependencies of ``pom``, copied by Maven once."""
    target = target.with_name(f"{target.name}-{hashlib.sha256(pom.encode()).hexdigest()[:8]}")

    def build(staged: Path) -> None:
        mvn = shutil.which("mvn")
        if not mvn:
            raise JavaUnavailable(f"{what} is resolved through Maven and mvn is not installed")
        (staged / "pom.xml").write_text(pom)
        done = subprocess.run([mvn, "-B", "--no-transfer-progress", "dependency:copy-dependencies",
                               f"-DoutputDirectory={staged / 'libs'}", "-DincludeScope=runtime"],
                              cwd=staged, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            errors = "\n".join(line for line in done.stdout.splitlines() if "[ERROR]" in line)[-2000:]
            raise JavaUnavailable(f"Maven could not resolve {what}:\n{errors or done.stdout[-2000:]}")

    return locked_once(target, build) / "libs"


def copy_artifact(coordinates: str, into: Path) -> Path:
    """One artifact (``group:artifact:version:type:classifier``) copied by Maven into ``into``; its path."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise JavaUnavailable(f"{coordinates} is fetched through Maven and mvn is not installed")
    done = subprocess.run([mvn, "-B", "--no-transfer-progress", "dependency:copy", f"-Dartifact={coordinates}",
                           f"-DoutputDirectory={into}"], cwd=into, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    copied = [p for p in into.iterdir() if p.is_file()]
    if done.returncode != 0 or len(copied) != 1:
        errors = "\n".join(line for line in done.stdout.splitlines() if "[ERROR]" in line)[-2000:]
        raise JavaUnavailable(f"Maven could not copy {coordinates}:\n{errors or done.stdout[-2000:]}")
    return copied[0]


def _javac(java: Path) -> Path:
    javac = java.parent / "javac"
    if javac.exists():
        return javac
    found = shutil.which("javac")
    if not found:
        raise JavaUnavailable(f"no javac beside {java} or on PATH: the tests compile their Java programs (install a "
                              f"JDK, e.g. openjdk-17-jdk-headless)")
    return Path(found)


def producer_program(settings: Settings | None = None) -> JavaProgram:
    """tests/java compiled against kafka-clients and Avro, built once per content of its sources."""
    settings = settings or Settings.from_env()
    try:
        java = find_java(os.environ)
    except BrokerUnavailable as exc:
        raise JavaUnavailable(str(exc)) from exc
    javac = _javac(java)
    cache = cache_dir(settings)
    libs = resolve_maven(cache / f"java-producer-kafka-{KAFKA_VERSION}-avro-{AVRO_VERSION}",
                         CLIENT_POM.format(kafka=KAFKA_VERSION, avro=AVRO_VERSION),
                         f"org.apache.kafka:kafka-clients:{KAFKA_VERSION} and org.apache.avro:avro:{AVRO_VERSION}")
    sources = sorted(JAVA_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(f"{KAFKA_VERSION} {AVRO_VERSION}".encode())
    for source in sources:
        digest.update(source.relative_to(JAVA_SOURCES).as_posix().encode() + b"\0" + source.read_bytes())
    classpath = f"{libs}/*"

    def build(staged: Path) -> None:
        done = subprocess.run([str(javac), "-d", str(staged / "classes"), "-cp", classpath, "--release", "17",
                               "-Xlint:all", *map(str, sources)], capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"javac failed:\n{done.stdout}{done.stderr}")

    classes = locked_once(cache / "java-build" / digest.hexdigest()[:16], build) / "classes"
    return JavaProgram(java, f"{classes}{os.pathsep}{classpath}")
