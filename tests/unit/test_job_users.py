"""Whom jobs run as: the worker's KAFKABAN_JOB_USER, a job's user.to.proxy only from the allow-list, and no jobs
as root unless KAFKABAN_ALLOW_ROOT_JOBS says so, refused when the worker starts (exit code 2 through the CLI)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigError, Settings
from engine.domain.commands import DispatchJob
from workers.jobs import JobSetupError
from workers.users import JobUser, JobUsers

ROOT = Path(__file__).resolve().parents[2]
NOBODY = JobUser.named("nobody")
ROOT_NAME = pwd.getpwuid(0).pw_name
UNPRIVILEGED = 4242  # a worker's uid that is neither root nor nobody's


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def dispatch(config: dict[str, str] | None = None, params: dict[str, str] | None = None) -> DispatchJob:
    return DispatchJob("e-1", "job", 1, "default", "command", {"command": "true", **(config or {})}, params or {})


def test_a_root_worker_without_a_job_user_refuses_to_start():
    with pytest.raises(ConfigError, match=r"runs as root and would run its jobs as root.*KAFKABAN_JOB_USER.*"
                                          r"KAFKABAN_ALLOW_ROOT_JOBS=1"):
        JobUsers.from_settings(settings(), euid=0)


def test_a_root_worker_runs_jobs_as_root_only_when_allowed():
    users = JobUsers.from_settings(settings(KAFKABAN_ALLOW_ROOT_JOBS="1"), euid=0)
    assert users.for_job(dispatch()) is None  # as the worker itself


def test_a_root_worker_with_an_unprivileged_job_user_starts():
    users = JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody"), euid=0)
    assert users.for_job(dispatch()) == NOBODY


def test_a_job_user_that_is_root_is_refused_unless_allowed():
    with pytest.raises(ConfigError, match=f"KAFKABAN_JOB_USER names '{ROOT_NAME}', which is root"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_USER=ROOT_NAME), euid=0)
    allowed = JobUsers.from_settings(settings(KAFKABAN_JOB_USER=ROOT_NAME, KAFKABAN_ALLOW_ROOT_JOBS="1"), euid=0)
    assert allowed.for_job(dispatch()) is None  # root already: no switch


def test_a_job_user_that_does_not_exist_is_refused():
    with pytest.raises(ConfigError, match="KAFKABAN_JOB_USER names 'kafkaban-no-such-user', which is no user"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_USER="kafkaban-no-such-user"), euid=0)
    with pytest.raises(ConfigError, match="KAFKABAN_JOB_PROXY_USERS names 'kafkaban-no-such-user'"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody", KAFKABAN_JOB_PROXY_USERS="kafkaban-no-such-user"),
                               euid=0)


def test_a_root_proxy_user_is_refused_unless_allowed():
    with pytest.raises(ConfigError, match=f"KAFKABAN_JOB_PROXY_USERS names '{ROOT_NAME}', which is root"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody", KAFKABAN_JOB_PROXY_USERS=ROOT_NAME), euid=0)


def test_an_unprivileged_worker_runs_jobs_as_itself_and_cannot_switch():
    assert JobUsers.from_settings(settings(), euid=UNPRIVILEGED).for_job(dispatch()) is None
    with pytest.raises(ConfigError, match="does not run as root"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody"), euid=UNPRIVILEGED)
    with pytest.raises(ConfigError, match="does not run as root"):
        JobUsers.from_settings(settings(KAFKABAN_JOB_PROXY_USERS="nobody"), euid=UNPRIVILEGED)
    # naming itself is no switch
    assert JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody"), euid=NOBODY.uid).for_job(dispatch()) is None


def test_user_to_proxy_picks_only_an_allowed_user():
    users = JobUsers.from_settings(settings(KAFKABAN_ALLOW_ROOT_JOBS="1", KAFKABAN_JOB_PROXY_USERS="nobody"), euid=0)
    assert users.for_job(dispatch({"user.to.proxy": "nobody"})) == NOBODY
    assert users.for_job(dispatch({"user.to.proxy": ROOT_NAME})) is None  # the worker's own user: the default
    with pytest.raises(JobSetupError, match="user.to.proxy 'daemon' is not a user this worker may run jobs as "
                                            r"\(KAFKABAN_JOB_PROXY_USERS allows: nobody\)"):
        users.for_job(dispatch({"user.to.proxy": "daemon"}))


def test_user_to_proxy_without_an_allow_list_fails_the_job():
    users = JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody"), euid=0)
    assert users.for_job(dispatch({"user.to.proxy": "nobody"})) == NOBODY  # the default user, named
    with pytest.raises(JobSetupError, match=r"allows: none\)"):
        users.for_job(dispatch({"user.to.proxy": ROOT_NAME}))


def test_a_submitted_param_does_not_pick_the_user():
    users = JobUsers.from_settings(settings(KAFKABAN_JOB_USER="nobody"), euid=0)
    assert users.for_job(dispatch(params={"user.to.proxy": ROOT_NAME})) == NOBODY


def worker_exit(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``kafkaban worker`` with no broker: the user checks come before it connects to anything."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKABAN_JOB_USER", "KAFKABAN_JOB_PROXY_USERS", "KAFKABAN_ALLOW_ROOT_JOBS")}
    return subprocess.run([sys.executable, "-m", "engine.cli", "worker"], env={**env, **extra}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a worker run as root")
def test_the_cli_refuses_a_root_worker_with_exit_code_2():
    done = worker_exit({})
    assert done.returncode == 2, done.stderr
    assert "kafkaban: this worker runs as root and would run its jobs as root" in done.stderr


def test_the_cli_refuses_an_unknown_job_user_with_exit_code_2():
    done = worker_exit({"KAFKABAN_JOB_USER": "kafkaban-no-such-user"})
    assert done.returncode == 2, done.stderr
    assert "kafkaban: KAFKABAN_JOB_USER names 'kafkaban-no-such-user', which is no user on this machine" in done.stderr
