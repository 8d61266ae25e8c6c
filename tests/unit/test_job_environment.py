"""A job's environment is built, not inherited: from a worker whose environment is full of Kafkaban's secrets and
other variables, a job gets only the allow-list's variables, its own params and env.* properties and Kafkaban's
per-attempt variables. Attempts run for real (workers/attempt.py), as the worker's user and as ``nobody``."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest

from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import DispatchJob
from workers.archives import ArchiveCache
from workers.attempt import Attempt, AttemptRunner, base_environment
from workers.jobs import OutputError, launch, read_outputs
from workers.jobtypes import JobTypes
from workers.users import JobUser, JobUsers

SECRETS = {
    "KAFKABAN_DATABASE_URL": "postgresql://kafkaban:db-secret-1@db/kafkaban",
    "KAFKABAN_ENGINE_KEY": "engine-secret-2",
    "KAFKABAN_TOKEN": "token-secret-3",
    "KAFKABAN_ADMIN_TOKEN": "admin-secret-4",
    "KAFKABAN_KAFKA_PASSWORD": "kafka-secret-5",
    "KAFKABAN_SESSION_KEY": "session-secret-6",
    "KAFKABAN_BOOTSTRAP": "broker-secret-7:9092",
    "KAFKABAN_KAFKA_USERNAME": "kafka-user-secret-8",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-9",
    "SSH_AUTH_SOCK": "ssh-secret-10",
    "LD_PRELOAD": "preload-secret-11",
    "PYTHONPATH": "pythonpath-secret-12",
}
WORKER_ENV = {**SECRETS, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "home-of-the-worker",
              "LANG": "C.UTF-8", "TZ": "UTC", "KAFKABAN_ALLOW_ROOT_JOBS": "1"}
PER_ATTEMPT = {"KAFKABAN_EXECUTION_ID", "KAFKABAN_JOB", "KAFKABAN_ATTEMPT", "KAFKABAN_OUTPUT_FILE",
               "JOB_OUTPUT_PROP_FILE", "KAFKABAN_PARAMS", "KAFKABAN_INPUTS", "KAFKABAN_WORKER_ID"}
NOBODY = JobUser.named("nobody")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs a worker run as root")


def command(text: str, **config: str) -> DispatchJob:
    return DispatchJob("e-1", "job", 1, "default", "command", {"command": text, **config},
                       {"colour": "blue", "KAFKABAN_TOKEN": "param-cannot-set-it"})


def test_a_job_env_holds_only_the_allow_list_and_its_own(tmp_path: Path):
    settings = Settings.from_env(WORKER_ENV)
    base = base_environment(settings, WORKER_ENV, None, tmp_path, "w-1")
    plan = launch(command("env", **{"env.GREETING": "hello"}), tmp_path / "output.json", base)
    assert set(plan.env) == {"PATH", "HOME", "LANG", "TZ", "colour", "GREETING", *PER_ATTEMPT}
    assert not set(SECRETS.values()) & set(plan.env.values())
    assert plan.env["HOME"] == "home-of-the-worker" and plan.env["colour"] == "blue"
    assert plan.env["KAFKABAN_WORKER_ID"] == "w-1"


def test_the_operator_adds_variables_but_never_kafkabans(tmp_path: Path):
    settings = Settings.from_env({**WORKER_ENV, "KAFKABAN_JOB_ENV_ALLOW": "PYTHONPATH,NOT_SET_HERE"})
    base = base_environment(settings, WORKER_ENV, None, tmp_path, "w-1")
    assert base["PYTHONPATH"] == "pythonpath-secret-12" and "NOT_SET_HERE" not in base
    in_code = Settings(job_env_allow=("PATH", "KAFKABAN_TOKEN", "kafkaban_engine_key"))  # config refuses these
    assert set(base_environment(in_code, {**WORKER_ENV, "kafkaban_engine_key": "x"}, None, tmp_path, "w")) == {
        "PATH", "HOME", "KAFKABAN_WORKER_ID"}


def test_home_is_the_job_users_own(tmp_path: Path):
    settings = Settings.from_env(WORKER_ENV)
    own = pwd.getpwuid(os.geteuid()).pw_dir
    without_home = {k: v for k, v in WORKER_ENV.items() if k != "HOME"}
    expected = own if os.path.isdir(own) else str(tmp_path)
    assert base_environment(settings, without_home, None, tmp_path, "w")["HOME"] == expected
    # another user: never the worker's HOME; that user's home if it has one, else the attempt's directory
    assert base_environment(settings, WORKER_ENV, NOBODY, tmp_path, "w")["HOME"] == (
        NOBODY.home if os.path.isdir(NOBODY.home) else str(tmp_path))
    housed = JobUser("housed", NOBODY.uid, NOBODY.gid, str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert base_environment(settings, WORKER_ENV, housed, tmp_path, "w")["HOME"] == str(tmp_path / "home")


class Recorder:
    """The worker's side of an attempt: what it reports and the log lines it ships."""

    def __init__(self) -> None:
        self.reports: list[ev.Payload] = []
        self.lines: list[tuple[str, str]] = []

    def report(self, execution_id: str, payload: ev.Payload) -> None:
        self.reports.append(payload)

    def send_log(self, execution_id: str, body: dict[str, object]) -> None:
        self.lines.append((str(body["stream"]), str(body["line"])))

    def stdout(self) -> list[str]:
        return [line for stream, line in self.lines if stream == "stdout"]


def run_attempt(dispatch: DispatchJob, tmp_path: Path, **env: str) -> tuple[Recorder, Attempt]:
    worker_env = {**WORKER_ENV, **env}
    settings = Settings.from_env(worker_env)
    recorder = Recorder()
    runner = AttemptRunner(settings, "w-1", ArchiveCache("http://127.0.0.1:9", tmp_path / "archives"), JobTypes(),
                           JobUsers.from_settings(settings), recorder.report, recorder.send_log, worker_env)
    attempt = Attempt.new(dispatch)
    try:
        runner.run(attempt)
    finally:
        runner.clean(attempt)
    return recorder, attempt


def test_a_running_job_sees_none_of_the_workers_secrets(tmp_path: Path):
    recorder, _ = run_attempt(command("env"), tmp_path)
    assert isinstance(recorder.reports[-1], ev.JobSucceeded), recorder.reports
    dumped = dict(line.split("=", 1) for line in recorder.stdout() if "=" in line)
    assert not SECRETS.keys() & dumped.keys()
    assert not [line for line in recorder.stdout() if any(secret in line for secret in SECRETS.values())]
    assert dumped["KAFKABAN_WORKER_ID"] == "w-1" and dumped["colour"] == "blue"


@as_root
def test_a_job_runs_as_the_job_user(tmp_path: Path):
    script = ('id -u; id -G; echo "$HOME"; touch here; '
              'printf \'{"who": "%s"}\' "$(id -un)" > "$KAFKABAN_OUTPUT_FILE"')
    recorder, attempt = run_attempt(command(script, **{"working.dir": "sub"}), tmp_path, KAFKABAN_JOB_USER="nobody")
    assert isinstance(recorder.reports[-1], ev.JobSucceeded), (recorder.reports, recorder.lines)
    uid, groups, home = recorder.stdout()
    assert int(uid) == NOBODY.uid
    assert groups.split() == [str(NOBODY.gid)]  # none of the worker's groups
    assert home == (NOBODY.home if os.path.isdir(NOBODY.home) else str(attempt.workdir))
    assert recorder.reports[-1].outputs == {"who": '"nobody"'}


@as_root
def test_user_to_proxy_outside_the_allow_list_fails_the_job(tmp_path: Path):
    recorder, _ = run_attempt(command("id -u", **{"user.to.proxy": "daemon"}), tmp_path, KAFKABAN_JOB_USER="nobody")
    assert recorder.reports == [ev.JobFailed("job", 1, None, "user.to.proxy 'daemon' is not a user this worker may "
                                             "run jobs as (KAFKABAN_JOB_PROXY_USERS allows: none)")]
    recorder, _ = run_attempt(command("id -u", **{"user.to.proxy": "nobody"}), tmp_path,
                              KAFKABAN_JOB_PROXY_USERS="nobody")
    assert recorder.stdout() == [str(NOBODY.uid)]


@as_root
def test_a_job_cannot_have_the_worker_read_a_file_for_it(tmp_path: Path):
    private = tmp_path / "private.json"  # root's, and in a directory nobody cannot enter
    private.write_text('{"secret": "root-only"}')
    private.chmod(0o600)
    recorder, _ = run_attempt(command(f'ln -sf {private} "$KAFKABAN_OUTPUT_FILE.link" && '
                                      f'mv -f "$KAFKABAN_OUTPUT_FILE.link" "$KAFKABAN_OUTPUT_FILE"'),
                              tmp_path, KAFKABAN_JOB_USER="nobody")
    assert recorder.reports[-1] == ev.JobSucceeded("job", 1, 0, {})
    assert ("stderr", "kafkaban: warning: outputs ignored: the output file is a symlink") in recorder.lines


def test_only_a_regular_file_of_the_job_is_read(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        read_outputs(fifo)  # a FIFO would have held the worker's thread forever
    mine = tmp_path / "output.json"
    mine.write_text(json.dumps({"n": 1}))
    assert read_outputs(mine, os.geteuid()) == {"n": "1"}
    with pytest.raises(OutputError, match="another user owns it"):
        read_outputs(mine, os.geteuid() + 1)
