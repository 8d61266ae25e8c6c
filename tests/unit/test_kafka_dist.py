"""Where the broker comes from: every way it cannot be had gives one clear message of what to install or set."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.broker.kafka_dist import BrokerUnavailable, JavaMissing, find_java, java_major_version, runtime
from engine.config import ConfigError, Settings


def script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def fake_java(directory: Path, version: str) -> Path:
    return script(directory, "java", f'echo \'openjdk version "{version}" 2025-04-15\' >&2')


def test_java_version_is_read_as_java_prints_it(tmp_path: Path):
    assert java_major_version(fake_java(tmp_path / "a", "17.0.15")) == 17
    assert java_major_version(fake_java(tmp_path / "b", "21")) == 21
    assert java_major_version(fake_java(tmp_path / "c", "1.8.0_392")) == 8


def test_no_java_anywhere_says_what_to_install(tmp_path: Path):
    with pytest.raises(JavaMissing, match=r"needs Java 17 or newer and none was found.*JAVA_HOME"):
        find_java({"PATH": str(tmp_path)})


def test_an_old_java_is_refused_with_its_version(tmp_path: Path):
    home = tmp_path / "jdk11"
    fake_java(home / "bin", "11.0.2")
    with pytest.raises(JavaMissing, match=r"is version 11"):
        find_java({"JAVA_HOME": str(home), "PATH": ""})


def test_java_home_wins_over_path(tmp_path: Path):
    home = tmp_path / "jdk21"
    chosen = fake_java(home / "bin", "21.0.1")
    fake_java(tmp_path / "path", "11.0.2")
    assert find_java({"JAVA_HOME": str(home), "PATH": str(tmp_path / "path")}) == chosen


def test_kafka_home_that_is_not_a_distribution_is_refused(tmp_path: Path):
    fake_java(tmp_path / "bin", "17.0.1")
    settings = Settings(kafka_home=str(tmp_path / "nothing-here"))
    with pytest.raises(BrokerUnavailable, match=r"not an unpacked Apache Kafka distribution"):
        runtime(settings, env={"PATH": str(tmp_path / "bin")})


def test_kafka_home_distribution_is_used_as_it_is(tmp_path: Path):
    fake_java(tmp_path / "bin", "17.0.1")
    libs = tmp_path / "kafka_2.13-4.1.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.0.jar").write_bytes(b"")
    found = runtime(Settings(kafka_home=str(libs.parent)), env={"PATH": str(tmp_path / "bin")})
    assert found.version == "4.1.0" and found.classpath == f"{libs}/*"


def test_no_maven_says_what_to_install_or_set(tmp_path: Path):
    fake_java(tmp_path / "bin", "17.0.1")
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    with pytest.raises(BrokerUnavailable, match=r"mvn is not installed.*KAFKABAN_KAFKA_HOME"):
        runtime(settings, progress=lambda line: None, env={"PATH": str(tmp_path / "bin")})
    assert not (tmp_path / "cache" / "kafka-4.4.0" / "complete").exists()


def test_unreachable_repository_is_one_clear_message_and_caches_nothing(tmp_path: Path):
    fake_java(tmp_path / "bin", "17.0.1")
    script(tmp_path / "bin", "mvn", 'echo "[ERROR] Failed to execute goal: Could not transfer artifact '
                                    'org.apache.kafka:kafka_2.13:pom:4.4.0: Connection refused"; exit 1')
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    lines: list[str] = []
    with pytest.raises(BrokerUnavailable, match=r"Maven could not resolve org.apache.kafka:kafka_2.13:4.4.0") as err:
        runtime(settings, progress=lines.append, env={"PATH": str(tmp_path / "bin")})
    assert "Connection refused" in str(err.value)
    assert any("resolving Apache Kafka 4.4.0" in line for line in lines)  # first-run progress was shown
    assert not (tmp_path / "cache" / "kafka-4.4.0" / "complete").exists()
    assert not (tmp_path / "cache" / "kafka-4.4.0" / "libs").exists()


@pytest.mark.parametrize(("name", "value"), [("KAFKABAN_EMBEDDED_BROKER", "redpanda"),
                                             ("KAFKABAN_KAFKA_HEAP", "-Xmx9g; rm -rf /"),
                                             ("KAFKABAN_KAFKA_HEAP", "lots")])
def test_bad_broker_settings_are_refused(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**os.environ, name: value})


def test_a_new_cluster_id_never_reads_as_a_command_line_option():
    from engine.broker.kafka_server import _new_cluster_id

    ids = [_new_cluster_id() for _ in range(5000)]  # about 78 would start with '-' if nothing prevented it
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
