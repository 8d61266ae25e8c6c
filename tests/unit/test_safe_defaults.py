"""Safe defaults, refused before anything starts: an API with authentication off listens on loopback only, and
the engine, the projector and the auditors refuse the public development key on a broker off this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigError, Settings, is_loopback, without_password

ROOT = Path(__file__).resolve().parents[2]


def kafkaban(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KAFKABAN_")}
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "api.example"])
def test_an_api_without_authentication_listens_on_loopback_only(host: str):
    refused = kafkaban("api", "--host", host, KAFKABAN_AUTH="off", KAFKABAN_DATABASE_URL="postgresql:///none")
    assert refused.returncode == 2 and "loopback address only" in refused.stderr, refused.stderr


def test_the_engine_refuses_the_development_key_on_a_broker_off_this_machine():
    refused = kafkaban("engine", KAFKABAN_BOOTSTRAP="kafka-1.example:9092,kafka-2.example:9092")
    assert refused.returncode == 2 and "KAFKABAN_ENGINE_KEY is not set" in refused.stderr, refused.stderr


@pytest.mark.parametrize("bootstrap", ["kafka.example:9092", "127.0.0.1:9092,10.0.0.5:9092"])
def test_every_reader_of_signatures_refuses_the_development_key_off_this_machine(bootstrap: str):
    settings = Settings.from_env({"KAFKABAN_BOOTSTRAP": bootstrap})
    with pytest.raises(ConfigError):
        settings.require_signing_key()
    assert Settings.from_env({"KAFKABAN_BOOTSTRAP": bootstrap, "KAFKABAN_ENGINE_KEY": "k" * 32}
                             ).require_signing_key() == b"k" * 32


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:9092", "localhost:9092", "[::1]:9092"])
def test_the_development_key_still_works_on_this_machine(bootstrap: str):
    assert Settings.from_env({"KAFKABAN_BOOTSTRAP": bootstrap}).require_signing_key()


def test_secrets_are_not_in_the_settings_repr_and_urls_print_without_their_password():
    settings = Settings.from_env({"KAFKABAN_DATABASE_URL": "postgresql://u:hunter22@db/k", "KAFKABAN_TOKEN": "t0k3n",
                                  "KAFKABAN_ADMIN_TOKEN": "adm1n", "KAFKABAN_ENGINE_KEY": "s3cr3t"})
    shown = repr(settings)
    assert not any(secret in shown for secret in ("hunter22", "t0k3n", "adm1n", "s3cr3t"))
    assert without_password("postgresql://u:hunter22@db/k") == "postgresql://u:***@db/k"


def test_job_environment_allow_list_cannot_pass_kafkabans_settings():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"KAFKABAN_JOB_ENV_ALLOW": "PYTHONPATH,KAFKABAN_DATABASE_URL"})
    assert "KAFKABAN_DATABASE_URL" in str(refused.value)


def test_loopback_names():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", "::", "localhost.example.com"))
