"""An execution read through the API is one moment of the views: the projector committing between the query's
statements (the execution row read, then its jobs) must not show a job running under an execution that is still
SUBMITTED. Real PostgreSQL, the projector's own writer, and its commit forced into that gap."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from engine.clock import now_ms
from engine.domain import events as ev
from engine.domain.loader import load_flow
from projections import queries
from projections.db import connect, migrate
from projections.writer import ExecutionWriter

FLOW = load_flow("name: gap\nnodes:\n  - name: sleep\n    type: noop\n")


def event(execution_id: str, payload: Any) -> ev.Event:
    return ev.Event(str(uuid.uuid4()), execution_id, now_ms(), "engine", payload)


class CommitAfterFirstSelect(psycopg.Cursor):  # type: ignore[type-arg]
    """Runs ``hook`` (another connection's commit) once, right after the first statement of the read."""

    hook: Callable[[], None] | None = None

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = super().execute(*args, **kwargs)
        hook, CommitAfterFirstSelect.hook = CommitAfterFirstSelect.hook, None
        if hook is not None:
            hook()
        return result


def test_an_execution_is_read_from_one_snapshot_even_when_the_projector_commits_mid_read(new_database: Any):
    url = new_database()
    migrate(url)
    writer = ExecutionWriter()
    execution_id = f"gap-{uuid.uuid4().hex[:8]}"
    submitted = event(execution_id, ev.ExecutionSubmitted(FLOW.name, FLOW.version_hash(), FLOW, {}, "tests", None))
    with connect(url) as projector:
        writer.write_batch(projector, [(submitted, "executions", 0, 0)])
        projector.commit()

        def projector_commits_the_start() -> None:
            writer.write_batch(projector, [
                (event(execution_id, ev.JobQueued("sleep", 1)), "executions", 0, 1),
                (event(execution_id, ev.JobDispatched("sleep", 1, "default", 30_000)), "executions", 0, 2),
                (event(execution_id, ev.JobStarted("sleep", 1, "w-1")), "executions", 0, 3)])
            projector.commit()

        with connect(url, autocommit=True) as reader:
            reader.cursor_factory = CommitAfterFirstSelect
            CommitAfterFirstSelect.hook = projector_commits_the_start
            during = queries.get_execution(reader, execution_id)
            assert CommitAfterFirstSelect.hook is None, "the projector's commit did not run mid-read"
            after = queries.get_execution(reader, execution_id)

    assert during is not None and after is not None
    # the read that straddled the commit shows the moment before it, whole
    assert (during["status"], during["jobs"][0]["status"]) == ("SUBMITTED", "PENDING"), during
    assert (after["status"], after["jobs"][0]["status"]) == ("RUNNING", "RUNNING"), after
