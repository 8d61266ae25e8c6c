"""Schemathesis against the running stack's own /openapi.json: every operation gets a bounded number of generated
requests (its examples, schemathesis' boundary and negative cases, and a few fuzzed ones), each sent with the
bootstrap admin's bearer token to the stack on loopback. No answer may be a 5xx, and every answer must be a status
the document declares, with a body of the schema it declares for that status.

Run through schemathesis' own engine (what its CLI runs), not its pytest plugin: the plugin's lazy, fixture-loaded
schema (the stack only exists once a fixture started it) does not work with the pytest this project uses."""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, StopReason, events
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from tests.integration.stack import Stack

# Fuzzed cases per operation: enough to reach odd unicode, huge integers and missing fields on every operation,
# few enough for a 2-core machine; the examples and coverage phases add their own bounded, deterministic cases.
MAX_EXAMPLES = 25
REQUEST_TIMEOUT_S = 30  # a write may wait for the projector (10 s): a timeout is a failure, not a hang
CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance")

# (method, path regex, why): operations that cannot pass for a reason that is not a bug
EXCLUDED: list[tuple[str, str, str]] = []


def loopback_url(stack: Stack) -> str:
    """The stack's base URL, refused unless it is a loopback address: the fuzzer sends nothing anywhere else."""
    host = urllib.parse.urlsplit(stack.url).hostname or ""
    assert ipaddress.ip_address(host).is_loopback, f"fuzzing only targets loopback, not {host!r}"
    return stack.url


def config(stack: Stack) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "base-url": loopback_url(stack),
        "headers": {"Authorization": f"Bearer {stack.token}"},
        "request-timeout": REQUEST_TIMEOUT_S,
        "max-redirects": 0,
        # no max-time: with one, schemathesis repeats the fuzzing phase until the time is spent; without, it runs
        # each phase once, so the run is bounded by MAX_EXAMPLES and ends with stop reason "completed"
        "seed": 20240601,  # the same cases every run: a failure here is one the next run reproduces
        "generation": {"max-examples": MAX_EXAMPLES},
        # stateful sequences would create and delete users, tokens and grants at random: the single-request
        # phases already reach every operation's inputs
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def describe(event: events.ScenarioFinished) -> dict[str, str]:
    """Each distinct failure of a scenario (check, title, message), with the first request that showed it."""
    found: dict[str, str] = {}
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                key = f"{event.label} [{event.phase.value}] {check.name}: {failure.title}\n{failure.message}"
                found.setdefault(key, f"{key}\n  reproduce: {check.failure_info.code_sample[:2000]}")
    if event.status == Status.ERROR and not found:
        found[f"{event.label} error"] = f"{event.label} [{event.phase.value}]: error"
    return found


def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    # A read-your-writes wait (`partition` + `min_offset`) for an offset no write returned waits its full 10 s and
    # answers 503 "try again" by design (test_api_crowd relies on it): not a value the fuzzer can be right about,
    # and ten seconds a case. The other parameters of those reads are still fuzzed.
    if isinstance(case.query, dict):
        case.query.pop("min_offset", None)


def test_every_answer_is_declared_and_no_5xx(stack: Stack) -> None:
    schema: Any = schemathesis.openapi.from_url(f"{loopback_url(stack)}/openapi.json", config=config(stack),
                                                headers={"Authorization": f"Bearer {stack.token}"}, timeout=30)
    for method, path, _why in EXCLUDED:
        schema = schema.exclude(method=method, path_regex=path)
    problems: dict[str, str] = {}
    operations: dict[str, float] = {}  # seconds spent on each, for the summary
    finished: events.EngineFinished | None = None
    schemathesis.hook(before_call)
    try:
        run = list(schemathesis.engine.from_schema(schema).execute())
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)  # the hook is global: only this run has it
    for event in run:
        if isinstance(event, events.ScenarioFinished) and event.label:
            operations[event.label] = operations.get(event.label, 0.0) + event.elapsed_time
            if event.status in (Status.FAILURE, Status.ERROR):
                problems.update(describe(event))
        elif isinstance(event, events.NonFatalError):
            problems[event.label] = f"{event.label}: {event.info.title}: {event.info.message}"
        elif isinstance(event, events.FatalError):
            pytest.fail(f"schemathesis could not run: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    print(f"schemathesis: {len(operations)} operations in {finished.running_time:.0f} s, "
          f"stopped: {finished.stop_reason.value}; slowest: "
          + ", ".join(f"{label} {spent:.0f} s" for label, spent in sorted(operations.items(), key=lambda o: -o[1])[:5]))
    assert not problems, f"{len(problems)} failures:\n\n" + "\n\n".join(problems.values())
    assert finished.stop_reason == StopReason.COMPLETED, finished.stop_reason
