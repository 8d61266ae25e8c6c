"""One attempt of a job on a worker: its environment, its process, its output and logs, its kill.

The runtime (workers/runtime.py) decides which attempts run and when; this module runs one, as Temporal's SDK keeps
an activity's execution (temporalio/worker/_activity.py) apart from the worker's polling.

A job's environment is built, never inherited: the worker's variables of ``KAFKABAN_JOB_ENV_ALLOW`` (PATH, HOME,
LANG, LC_ALL, TZ and what the operator adds), the job's params and ``env.*`` properties (workers/jobs.py), and
Kafkaban's per-attempt variables. The worker's own settings (its database URL, engine key, tokens, Kafka password)
never reach a job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.config import Settings
from engine.domain import events as ev
from engine.domain.commands import DispatchJob
from engine.processes import die_with_parent
from workers.archives import ArchiveCache, ArchiveUnavailable
from workers.jobs import JobSetupError, OutputError, launch, read_outputs
from workers.jobtypes import JobTypes
from workers.users import JobUser, JobUsers

log = logging.getLogger("kafkaban.worker")
AttemptKey = tuple[str, str, int]
Report = Callable[[str, ev.Payload], None]  # execution id, what to write to the executions topic
SendLog = Callable[[str, dict[str, Any]], None]  # execution id, the body of a LogLine


@dataclass
class Attempt:
    dispatch: DispatchJob
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    killed_because: str | None = None
    handed_back: bool = False
    next_heartbeat: float = 0.0
    log_seq: int = 0
    last_stderr: str = ""  # the last non-empty stderr line: the detail of a failure
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def new(cls, dispatch: DispatchJob) -> Attempt:
        return cls(dispatch, Path(tempfile.mkdtemp(prefix="kafkaban-job-")))

    @property
    def key(self) -> AttemptKey:
        return (self.dispatch.execution_id, self.dispatch.job, self.dispatch.attempt)

    def kill(self, reason: str, hand_back: bool, grace_s: float) -> None:
        """SIGTERM to the job's process group, SIGKILL after ``grace_s``; an attempt not started yet never starts."""
        with self.lock:
            self.killed_because = reason
            self.handed_back = hand_back
            process = self.process
        if process is None or process.poll() is not None:
            return
        log.info("killing %s: %s", self.key, reason)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)

        def escalate() -> None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(grace_s, escalate)
        timer.daemon = True
        timer.start()


def job_home(user: JobUser | None, workdir: Path, own_home: str | None = None) -> str:
    """HOME for a job: its user's home directory when there is one on this machine, else the attempt's working
    directory (``nobody``'s is /nonexistent)."""
    home = user.home if user is not None else own_home
    return home if home and os.path.isdir(home) else str(workdir)


def base_environment(settings: Settings, worker_env: Mapping[str, str], user: JobUser | None, workdir: Path,
                     worker_id: str) -> dict[str, str]:
    """What a job gets from its worker: the allowed variables it has, a HOME of the job's user, the worker's id.
    workers/jobs.py adds the job's own variables on top."""
    # KAFKABAN_ names are refused in the allow-list by engine/config.py; skipped here too, for a Settings built in code
    env = {name: worker_env[name] for name in settings.job_env_allow
           if name in worker_env and not name.upper().startswith("KAFKABAN_")}
    if user is not None or "HOME" not in env:  # the worker's HOME is not another user's
        own_home = None
        if user is None:
            with contextlib.suppress(KeyError):
                own_home = pwd.getpwuid(os.geteuid()).pw_dir
        env["HOME"] = job_home(user, workdir, own_home)
    env["KAFKABAN_WORKER_ID"] = worker_id
    return env


def hand_over(root: Path, user: JobUser) -> None:
    """Give the attempt's directory tree to the job's user, so it can write its output and in its project (Azkaban's
    ProcessJob.assignUserFileOwnership). Symlinks are changed themselves, never what they point to."""
    os.chown(root, user.uid, user.gid)
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(os.path.join(directory, name), user.uid, user.gid, follow_symlinks=False)


class AttemptRunner:
    """Runs attempts to their end for one worker and reports each result."""

    def __init__(self, settings: Settings, worker_id: str, archives: ArchiveCache, jobtypes: JobTypes,
                 users: JobUsers, report: Report, send_log: SendLog,
                 worker_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.archives = archives
        self.jobtypes = jobtypes
        self.users = users
        self.report = report
        self.send_log = send_log
        self.worker_env = os.environ if worker_env is None else worker_env

    def run(self, attempt: Attempt) -> None:
        """Prepare, start and wait for the attempt's process, then report JobSucceeded or JobFailed (nothing when
        it was handed back: its lease expires and it runs again)."""
        d = attempt.dispatch
        output_file = attempt.workdir / "output.json"
        try:
            try:
                user = self.users.for_job(d)
                project_root = None
                if d.archive:  # a fresh copy of the project per attempt; the output file stays outside it
                    project_root = attempt.workdir / "project"
                    self.archives.unpack_into(d.archive, project_root)
                env = base_environment(self.settings, self.worker_env, user, attempt.workdir, self.worker_id)
                plan = launch(d, output_file, env, self.jobtypes, project_root)
            except (JobSetupError, ArchiveUnavailable) as exc:
                self.report(d.execution_id, ev.JobFailed(d.job, d.attempt, None, str(exc)))
                return
            as_user: dict[str, Any] = {}
            if user is not None:
                output_file.touch()  # there for the job to write, as Azkaban creates the output properties file
                hand_over(attempt.workdir, user)  # after launch: working.dir may have made a directory
                as_user = {"user": user.uid, "group": user.gid, "extra_groups": []}  # none of the worker's groups
            exit_code = 0
            last_error = ""
            if plan.argv is not None:
                with attempt.lock:
                    if attempt.killed_because is not None:
                        self.report(d.execution_id, ev.JobFailed(d.job, d.attempt, None,
                                                                 f"killed: {attempt.killed_because}"))
                        return
                    attempt.process = subprocess.Popen(plan.argv, env=plan.env, cwd=plan.cwd or attempt.workdir,
                                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                                       preexec_fn=die_with_parent, **as_user)
                process = attempt.process
                assert process.stdout is not None and process.stderr is not None
                readers = [threading.Thread(target=self._pump, args=(attempt, process.stdout, "stdout")),
                           threading.Thread(target=self._pump, args=(attempt, process.stderr, "stderr"))]
                for reader in readers:
                    reader.start()
                exit_code = process.wait()
                for reader in readers:
                    reader.join()
                last_error = attempt.last_stderr
            if attempt.handed_back:
                log.warning("attempt %s handed back: its lease will expire and it will run again", attempt.key)
                return
            if attempt.killed_because is not None:
                self.report(d.execution_id, ev.JobFailed(d.job, d.attempt, exit_code,
                                                         f"killed: {attempt.killed_because}"))
            elif exit_code != 0:
                detail = f": {last_error}" if last_error else ""
                self.report(d.execution_id, ev.JobFailed(d.job, d.attempt, exit_code,
                                                         f"exit code {exit_code}{detail}"))
            else:
                try:
                    # a job run as another user owns its directory: only a file of its own is read back, so it
                    # cannot have the worker read something else for it
                    outputs = read_outputs(output_file, user.uid if user is not None else None)
                except OutputError as exc:  # as Azkaban: the output is dropped with a warning, the result stands
                    self.log_line(attempt, "stderr", f"kafkaban: warning: outputs ignored: {exc}")
                    outputs = {}
                self.report(d.execution_id, ev.JobSucceeded(d.job, d.attempt, 0, outputs))
        except Exception as exc:  # a worker bug must still end the attempt visibly
            log.exception("attempt %s crashed the worker thread", attempt.key)
            self.report(d.execution_id, ev.JobFailed(d.job, d.attempt, None, f"worker error: {exc}"))

    def clean(self, attempt: Attempt) -> None:
        if self.settings.keep_workdirs:
            log.info("kept the working directory of %s: %s", attempt.key, attempt.workdir)
        else:
            shutil.rmtree(attempt.workdir, ignore_errors=True)

    def _pump(self, attempt: Attempt, stream: BinaryIO, name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if name == "stderr" and line.strip():
                attempt.last_stderr = line.strip()[:500]
            self.log_line(attempt, name, line)
        stream.close()

    def log_line(self, attempt: Attempt, stream: str, line: str) -> None:
        d = attempt.dispatch
        with attempt.lock:
            seq = attempt.log_seq
            attempt.log_seq += 1
        self.send_log(d.execution_id, {"job": d.job, "attempt": d.attempt, "stream": stream, "seq": seq,
                                       "line": line})
