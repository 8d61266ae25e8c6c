"""The resolved form of a flow: what an execution snapshots and runs.

A FlowSpec is what the YAML loader produces and what ExecutionSubmitted carries. Its canonical JSON form is
hashed to give the flow's version, so formatting and comments in the YAML never change the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from engine.domain import conditions


class FailurePolicy(StrEnum):
    FINISH_CURRENT = "finish_current"
    CANCEL_ALL = "cancel_all"
    FINISH_ALL_POSSIBLE = "finish_all_possible"


JOB_TYPES = ("command", "noop", "python")
DEFAULT_POOL = "default"
DEFAULT_LEASE_MS = 30_000
DEFAULT_MAX_LOST = 3


@dataclass(frozen=True)
class RetryPolicy:
    """Failures allowed and the delay between attempts: base * 2**(retry-1), capped, spread by jitter."""

    max_attempts: int = 1
    backoff_base_ms: int = 0
    backoff_max_ms: int = 0
    jitter: float = 0.0
    max_lost: int = DEFAULT_MAX_LOST


@dataclass(frozen=True)
class JobSpec:
    name: str
    type: str
    config: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    condition: str | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout_ms: int | None = None
    lease_ms: int = DEFAULT_LEASE_MS
    pool: str = DEFAULT_POOL
    cpu: float = 0.0
    memory_mb: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JobSnapshot record of the executions schema."""
        return {
            "name": self.name,
            "type": self.type,
            "config": dict(self.config),
            "depends_on": list(self.depends_on),
            "condition": self.condition,
            "max_attempts": self.retry.max_attempts,
            "backoff_base_ms": self.retry.backoff_base_ms,
            "backoff_max_ms": self.retry.backoff_max_ms,
            "jitter": self.retry.jitter,
            "max_lost": self.retry.max_lost,
            "timeout_ms": self.timeout_ms,
            "lease_ms": self.lease_ms,
            "pool": self.pool,
            "cpu": float(self.cpu),
            "memory_mb": self.memory_mb,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(
            name=data["name"],
            type=data["type"],
            config=dict(data["config"]),
            depends_on=tuple(data["depends_on"]),
            condition=data.get("condition"),
            retry=RetryPolicy(
                max_attempts=data["max_attempts"],
                backoff_base_ms=data["backoff_base_ms"],
                backoff_max_ms=data["backoff_max_ms"],
                jitter=data["jitter"],
                max_lost=data["max_lost"],
            ),
            timeout_ms=data.get("timeout_ms"),
            lease_ms=data["lease_ms"],
            pool=data["pool"],
            cpu=data["cpu"],
            memory_mb=data["memory_mb"],
        )


@dataclass(frozen=True)
class FlowSpec:
    name: str
    jobs: tuple[JobSpec, ...]
    failure_policy: FailurePolicy = FailurePolicy.FINISH_CURRENT
    params: Mapping[str, str | None] = field(default_factory=dict)

    @cached_property
    def by_name(self) -> Mapping[str, JobSpec]:
        return {job.name: job for job in self.jobs}

    @cached_property
    def children(self) -> Mapping[str, tuple[str, ...]]:
        """Downstream jobs of each job, in declaration order (unknown dependencies are ignored here)."""
        out: dict[str, list[str]] = {job.name: [] for job in self.jobs}
        for job in self.jobs:
            for parent in job.depends_on:
                if parent in out:
                    out[parent].append(job.name)
        return {name: tuple(kids) for name, kids in out.items()}

    @cached_property
    def roots(self) -> tuple[str, ...]:
        return tuple(job.name for job in self.jobs if not job.depends_on)

    @cached_property
    def end_jobs(self) -> tuple[str, ...]:
        """Jobs nothing depends on: the flow succeeds only if each of these succeeds (Azkaban's finalizeFlow)."""
        return tuple(name for name, kids in self.children.items() if not kids)

    @cached_property
    def failure_handled(self) -> frozenset[str]:
        """Jobs whose failure a conditional branch handles: every child has a status condition other than
        all_success. Their failure neither stops the flow nor fails it (Azkaban's FlowRunner.setFlowFailed)."""
        return frozenset(name for name, kids in self.children.items()
                         if kids and all(conditions.handles_failure(self.by_name[kid].condition) for kid in kids))

    def to_dict(self) -> dict[str, Any]:
        """The FlowSnapshot record of the executions schema."""
        return {
            "name": self.name,
            "failure_policy": self.failure_policy.value,
            "params": dict(self.params),
            "jobs": [job.to_dict() for job in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlowSpec:
        return cls(
            name=data["name"],
            jobs=tuple(JobSpec.from_dict(job) for job in data["jobs"]),
            failure_policy=FailurePolicy(data["failure_policy"]),
            params=dict(data["params"]),
        )

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def version_hash(self) -> str:
        """The flow's version: sha256 of its canonical form."""
        return "sha256:" + hashlib.sha256(self.canonical_json().encode()).hexdigest()
