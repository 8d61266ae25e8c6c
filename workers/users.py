"""Which OS user a job runs as: Azkaban's ``execute.as.user`` and ``user.to.proxy``, with an allow-list.

Azkaban's ProcessJob (azkaban-common, jobExecutor/ProcessJob.java) runs each job as its effective user, the job's
``user.to.proxy`` (else the submitting user), refuses the users of ``azkaban.server.blacklist.users`` (default
``root,azkaban``), and hands the job's working directory and property files to that user before it starts. Kafkaban
mirrors that with an allow-list instead of a deny-list: a worker runs its jobs as ``KAFKABAN_JOB_USER`` (else as
itself), and a job's ``user.to.proxy`` may pick only a user of ``KAFKABAN_JOB_PROXY_USERS``. Root is refused unless
``KAFKABAN_ALLOW_ROOT_JOBS`` says otherwise: a job run as root could read the worker's secrets from /proc.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass

from engine.config import ConfigError, Settings
from engine.domain.commands import DispatchJob
from workers.jobs import JobSetupError

PROXY_PROPERTY = "user.to.proxy"  # Azkaban's name (JobProperties.USER_TO_PROXY)


@dataclass(frozen=True)
class JobUser:
    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def named(cls, name: str) -> JobUser:
        """The user of the password database; KeyError if there is none of that name."""
        entry = pwd.getpwnam(name)
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _own_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container started with a uid of no passwd entry
        return None


@dataclass(frozen=True)
class JobUsers:
    """A worker's rules for whom its jobs run as. ``None`` for a job means: as the worker itself, no switch."""

    default: JobUser | None  # KAFKABAN_JOB_USER, when it is not the worker's own user
    proxies: Mapping[str, JobUser]  # KAFKABAN_JOB_PROXY_USERS by name
    own_uid: int
    own_name: str | None

    @classmethod
    def from_settings(cls, settings: Settings, euid: int | None = None) -> JobUsers:
        """The rules, or ConfigError when the worker must not start: a user that does not exist, jobs that would
        run as root without KAFKABAN_ALLOW_ROOT_JOBS, or a switch of user a worker not run as root cannot make."""
        own_uid = os.geteuid() if euid is None else euid

        def resolve(name: str, setting: str) -> JobUser:
            try:
                user = JobUser.named(name)
            except KeyError:
                raise ConfigError(f"{setting} names {name!r}, which is no user on this machine") from None
            if user.uid == 0 and not settings.allow_root_jobs:
                raise ConfigError(f"{setting} names {name!r}, which is root: jobs run as root only with "
                                  f"KAFKABAN_ALLOW_ROOT_JOBS=1")
            if user.uid != own_uid and own_uid != 0:
                raise ConfigError(f"{setting} names {name!r}, but this worker does not run as root and so cannot "
                                  f"start processes as another user")
            return user

        default = resolve(settings.job_user, "KAFKABAN_JOB_USER") if settings.job_user else None
        proxies = {name: resolve(name, "KAFKABAN_JOB_PROXY_USERS") for name in settings.job_proxy_users}
        default_uid = default.uid if default is not None else own_uid
        if default_uid == 0 and not settings.allow_root_jobs:
            raise ConfigError("this worker runs as root and would run its jobs as root, where they could read the "
                              "worker's secrets: set KAFKABAN_JOB_USER to an unprivileged user for the jobs (as "
                              "Azkaban's execute.as.user), or KAFKABAN_ALLOW_ROOT_JOBS=1 to run them as root anyway")
        return cls(default if default is not None and default.uid != own_uid else None,
                   proxies, own_uid, _own_name(own_uid))

    def for_job(self, dispatch: DispatchJob) -> JobUser | None:
        """The user ``dispatch`` runs as. Only the flow's config names it (the submission's params cannot: a param
        of that name is not read here); a user outside the allow-list fails the job."""
        wanted = dispatch.config.get(PROXY_PROPERTY, "").strip()
        if not wanted or wanted == (self.default.name if self.default is not None else self.own_name):
            return self.default
        user = self.proxies.get(wanted)
        if user is None:
            allowed = ", ".join(sorted(self.proxies)) or "none"
            raise JobSetupError(f"{PROXY_PROPERTY} {wanted!r} is not a user this worker may run jobs as "
                                f"(KAFKABAN_JOB_PROXY_USERS allows: {allowed})")
        return None if user.uid == self.own_uid else user

    def describe(self) -> str:
        who = self.default.name if self.default is not None else (self.own_name or f"uid {self.own_uid}")
        extra = f", or as {', '.join(sorted(self.proxies))} by user.to.proxy" if self.proxies else ""
        return f"jobs run as {who}{extra}"
