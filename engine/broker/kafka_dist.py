"""Where the Apache Kafka broker comes from: a Java 17+ runtime and the broker's jars.

The jars are either an unpacked Apache Kafka distribution named by KAFKABAN_KAFKA_HOME (its ``libs/``), or
``org.apache.kafka:kafka_2.13`` at the pinned version and its runtime dependencies, resolved through Maven once
into a cache directory (KAFKABAN_CACHE_DIR, default ``~/.cache/kafkaban``) and reused from there. Java is the
one of JAVA_HOME, else the one on PATH, as Apache Kafka's own scripts find it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.config import Settings
from engine.paths import cache_dir

# The newest Apache Kafka against which confluent-kafka 2.16, aiokafka 0.14 and faust-streaming 0.15 pass the
# whole suite (Kafka 4.0 removed the protocol versions older clients used, KIP-896).
KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.25.5"  # the log4j-core that kafka_2.13 4.4.0 depends on; its slf4j binding must match
MIN_JAVA = 17
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


class BrokerUnavailable(RuntimeError):
    """Apache Kafka cannot be run here; the message says what to install or set."""


class JavaMissing(BrokerUnavailable):
    """No Java 17+ runtime: the one case in which the embedded tansu broker may stand in."""


@dataclass(frozen=True)
class KafkaRuntime:
    java: Path
    classpath: str  # a java -cp value
    version: str


def find_java(env: Mapping[str, str] | None = None) -> Path:
    """The java of JAVA_HOME, else the one on PATH; refused unless it is version 17 or newer."""
    env = os.environ if env is None else env
    candidates = []
    if env.get("JAVA_HOME"):
        candidates.append(Path(env["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    for java in candidates:
        if java.exists():
            major = java_major_version(java)
            if major is not None and major >= MIN_JAVA:
                return java
            raise JavaMissing(
                f"Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA} or newer; {java} is version {major}. "
                f"Install a newer JDK (for example the openjdk-17-jre-headless package) or point JAVA_HOME at one.")
    raise JavaMissing(
        f"Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA} or newer and none was found (JAVA_HOME unset, no java "
        f"on PATH). Install a JDK (for example the openjdk-17-jre-headless package) or set JAVA_HOME, or set "
        f"KAFKABAN_BOOTSTRAP to use a broker you already run.")


def java_major_version(java: Path) -> int | None:
    try:
        done = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not match:
        return None
    major = int(match[1])
    return int(match[2] or 0) if major == 1 else major  # "1.8.0" is Java 8


def runtime(settings: Settings, progress: Callable[[str], None] | None = None,
            env: Mapping[str, str] | None = None) -> KafkaRuntime:
    """Java and the broker's classpath, resolving the jars on first use."""
    env = os.environ if env is None else env
    java = find_java(env)
    home = settings.kafka_home
    if home:
        libs = Path(home) / "libs"
        found = [m for jar in libs.glob("kafka_2.13-*.jar") if (m := re.fullmatch(r"kafka_2\.13-([\d.]+)\.jar",
                                                                                  jar.name))]
        if not found:
            raise BrokerUnavailable(f"KAFKABAN_KAFKA_HOME={home} is not an unpacked Apache Kafka distribution "
                                    f"(no libs/kafka_2.13-<version>.jar)")
        return KafkaRuntime(java, f"{libs}/*", found[0][1])
    libs = resolve_jars(cache_dir(settings), progress or _print_progress, env)
    return KafkaRuntime(java, f"{libs}/*", KAFKA_VERSION)


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkaban</groupId><artifactId>kafka-runtime</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


def resolve_jars(cache: Path, progress: Callable[[str], None], env: Mapping[str, str]) -> Path:
    """``<cache>/kafka-<version>/libs``, filled through Maven once; concurrent callers wait for the first one."""
    target = cache / f"kafka-{KAFKA_VERSION}"
    libs = target / "libs"
    done_marker = target / "complete"
    if done_marker.exists():
        return libs
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be resolving: wait for it, then reuse its work
        if done_marker.exists():
            return libs
        mvn = shutil.which("mvn", path=env.get("PATH"))
        if not mvn:
            raise BrokerUnavailable(
                f"Apache Kafka {KAFKA_VERSION} is resolved through Maven on first use and mvn is not installed: "
                f"install Maven (the maven package), or set KAFKABAN_KAFKA_HOME to an unpacked Apache Kafka "
                f"distribution, or KAFKABAN_BOOTSTRAP to a broker you already run.")
        progress(f"resolving Apache Kafka {KAFKA_VERSION} through Maven into {target} (first use only, about 45 MB)")
        with tempfile.TemporaryDirectory(dir=target) as work:
            (Path(work) / "pom.xml").write_text(POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
            staged = Path(work) / "libs"
            _run_maven(mvn, Path(work), staged, progress)
            shutil.rmtree(libs, ignore_errors=True)
            staged.rename(libs)
        done_marker.write_text(KAFKA_VERSION + "\n")
        progress(f"Apache Kafka {KAFKA_VERSION}: {len(list(libs.glob('*.jar')))} jars ready")
    return libs


def _run_maven(mvn: str, work: Path, out: Path, progress: Callable[[str], None]) -> None:
    argv = [mvn, "-B", "--no-transfer-progress", "dependency:copy-dependencies", f"-DoutputDirectory={out}",
            "-DincludeScope=runtime"]
    process = subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    tail: list[str] = []
    copied = 0
    for line in process.stdout:
        tail = [*tail[-30:], line.rstrip()]
        if "Copying " in line:
            copied += 1
            if copied % 10 == 0:
                progress(f"  {copied} jars copied")
        elif line.startswith("[INFO] Download") and "maven-dependency-plugin" in line:
            progress("  fetching Maven's dependency plugin")
    if process.wait() != 0:
        errors = "\n".join(line for line in tail if "[ERROR]" in line)[-2000:] or "\n".join(tail[-10:])
        raise BrokerUnavailable(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{KAFKA_VERSION} (is the Maven repository "
            f"reachable? a proxy goes in ~/.m2/settings.xml). Or set KAFKABAN_KAFKA_HOME to an unpacked Apache "
            f"Kafka distribution.\n{errors}")
