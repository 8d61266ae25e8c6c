"""A real schema registry for the tests: Apicurio Registry's Confluent-compatible API (``/apis/ccompat/v7``),
in memory (its default H2 storage), on a free loopback port, started and stopped by the test that needs it.

Its distribution, ``io.apicurio:apicurio-registry-app:<version>:tar.gz:all`` (about 110 MB), is copied through
Maven once into Kafkaban's cache directory and unpacked there, as the broker's jars are.
"""

from __future__ import annotations

import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.broker.embedded import free_port
from engine.broker.kafka_dist import find_java
from engine.config import Settings
from engine.paths import cache_dir
from tests.support.java import JavaUnavailable, copy_artifact, locked_once

# A release that runs on Java 17: 3.3.3, the newest on Maven Central, is built for Java 21 (class file 65).
APICURIO_VERSION = "3.0.9"
CCOMPAT_PATH = "/apis/ccompat/v7"


def apicurio_runner(settings: Settings | None = None) -> Path:
    """The unpacked distribution's runner jar, fetched on first use."""
    settings = settings or Settings.from_env()
    coordinates = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"

    def unpack(staged: Path) -> None:
        archive = copy_artifact(coordinates, staged)
        with tarfile.open(archive) as tar:
            tar.extractall(staged / "app", filter="data")
        archive.unlink()

    home = locked_once(cache_dir(settings) / f"apicurio-registry-{APICURIO_VERSION}", unpack) / "app"
    runners = sorted(home.glob("*-runner.jar"))
    if not runners:
        raise JavaUnavailable(f"{coordinates} holds no *-runner.jar: {sorted(p.name for p in home.iterdir())}")
    return runners[0]


@contextmanager
def apicurio_registry(log: Path) -> Iterator[str]:
    """A running registry; yields the URL a Confluent client (and KAFKABAN_SCHEMA_REGISTRY_URL) takes."""
    runner = apicurio_runner()
    port, management = free_port(), free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(find_java()), "-Xmx384m", "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={port}",
             "-Dquarkus.management.host=127.0.0.1", f"-Dquarkus.management.port={management}",
             "-jar", str(runner)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{CCOMPAT_PATH}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Apicurio Registry exited with {process.returncode}:\n{log.read_text()[-5000:]}")
            try:
                with urllib.request.urlopen(url + "/subjects", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Apicurio Registry did not answer within 180 s:\n{log.read_text()[-5000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
