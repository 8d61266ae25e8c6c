"""Follow the ends of executions from another Python service, in a consumer group of its own: one JSON line per
execution that succeeds, fails, is cancelled or is rejected.

    KAFKABAN_BOOTSTRAP=... KAFKABAN_TOPIC_PREFIX=... KAFKABAN_ENGINE_PUBLIC_KEY=... \\
        python examples/follow_executions.py GROUP [--latest] [--count N]

A group starts at the log's beginning (every end so far) or, with --latest, at its end; after that it goes on from
where it committed. An end is committed once its line is printed: a follower killed in between prints it again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from engine.config import Settings
from engine.follow import ExecutionEnded, ExecutionFollower, ended_as_json


def follow(settings: Settings, group: str, count: int | None = None, start: str = "earliest",
           handle: Callable[[ExecutionEnded], None] = lambda end: print(json.dumps(ended_as_json(end)), flush=True),
           ) -> list[ExecutionEnded]:
    """Hand each end to ``handle`` (committed once it returns); stop after ``count`` ends, if given."""
    seen: list[ExecutionEnded] = []

    def handled(end: ExecutionEnded) -> None:
        handle(end)
        seen.append(end)

    with ExecutionFollower(settings, group, start=start) as follower:
        follower.run(handled, stop=lambda: count is not None and len(seen) >= count)
    return seen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", help="the service's own consumer group")
    parser.add_argument("--latest", action="store_true", help="a new group starts at the end of the log")
    parser.add_argument("--count", type=int, help="stop after this many ends")
    args = parser.parse_args()
    try:
        follow(Settings.from_env(), args.group, args.count, "latest" if args.latest else "earliest")
    except KeyboardInterrupt:
        pass
