"""Submit a flow from another Python service with Kafkaban's producer library, read it back through the API, and
follow it to its end.

    KAFKABAN_BOOTSTRAP=... KAFKABAN_TOPIC_PREFIX=... KAFKABAN_ENGINE_PUBLIC_KEY=... KAFKABAN_TOKEN=... \\
        python examples/external_producer.py [API_URL]

The Kafka settings are the usual KAFKABAN_* variables (bootstrap, prefix, security); KAFKABAN_ENGINE_PUBLIC_KEY
(`kafkaban engine-key public`) lets the follower tell the engine's ends from forgeries; KAFKABAN_TOKEN (READ on the
default project) and the API's URL (default KAFKABAN_URL) are only for reading the write back. Without this
library, from any language: examples/raw_producer.py and the README's rules for other languages.
"""

from __future__ import annotations

import sys

from engine.config import Settings
from engine.follow import ExecutionEnded, ExecutionFollower
from engine.producer import KafkabanProducer, Written
from engine.projected import wait_projected

SERVICE = "billing-service"
FLOW = """
name: external
params: {who: null}
nodes:
  - {name: hello, type: command, config: {command: "echo hello from ${who}"}}
"""


def submit(settings: Settings, who: str = "another service") -> Written:
    """An inline flow, as the service itself (a registered one: ``producer.submit("nightly", ...)``)."""
    with KafkabanProducer(settings, service=SERVICE) as producer:
        return producer.submit(definition=FLOW, submitter=SERVICE, params={"who": who})


def follow_to_end(settings: Settings, execution_id: str, group: str = f"{SERVICE}.example") -> ExecutionEnded:
    """The end of one execution, read in the service's own consumer group."""
    found: list[ExecutionEnded] = []
    with ExecutionFollower(settings, group) as follower:
        for end in follower.ends(stop=lambda: bool(found)):
            if end.execution_id == execution_id:
                found.append(end)
    return found[0]


def run(settings: Settings, api_url: str | None = None, token: str | None = None) -> ExecutionEnded:
    written = submit(settings)
    print(f"submitted {written.execution_id} ({written.topic}[{written.partition}]@{written.offset})")
    if api_url and token:
        execution = wait_projected(api_url, written, token)  # read your write: the views hold the submission
        print(f"the API shows it {execution['status']}, submitted by {execution['submitter']}")
    end = follow_to_end(settings, written.execution_id)
    print(f"{end.execution_id} {end.status.value} at {end.ended_at.isoformat()}")
    return end


if __name__ == "__main__":
    env = Settings.from_env()
    run(env, sys.argv[1] if len(sys.argv) > 1 else env.api_url, env.token)
