"""What faust does not let us configure.

faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500`` fixed. Apache Kafka answers a fetch as soon
as records arrive, but a broker that holds every fetch for the whole wait (tansu does) then adds up to 1.5 s to
each hop through the engine. The engine process has no other aiokafka consumers, so the consumer class is
replaced there by one that takes the configured wait.

faust turns on producer idempotence only inside transactions (exactly_once). Under at_least_once a produce that
is retried after a broker failover could then append an event twice; the idempotent producer makes the broker
drop such a retry, so the engine's producer class is replaced by one that asks for it.
"""

from __future__ import annotations

from typing import Any

import aiokafka


def use_fetch_wait(fetch_wait_ms: int) -> None:
    base = aiokafka.AIOKafkaConsumer
    if getattr(base, "_kafkaban_tuned", False):
        base = base.__mro__[1]

    class TunedConsumer(base):  # type: ignore[misc,valid-type]
        _kafkaban_tuned = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = fetch_wait_ms
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaConsumer = TunedConsumer  # type: ignore[misc]


def use_idempotent_producer(enabled: bool) -> None:
    base = aiokafka.AIOKafkaProducer
    if getattr(base, "_kafkaban_tuned", False):
        base = base.__mro__[1]
    if not enabled:
        aiokafka.AIOKafkaProducer = base  # type: ignore[misc]
        return

    class IdempotentProducer(base):  # type: ignore[misc,valid-type]
        _kafkaban_tuned = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["enable_idempotence"] = True
            kwargs["acks"] = "all"
            super().__init__(*args, **kwargs)

    aiokafka.AIOKafkaProducer = IdempotentProducer  # type: ignore[misc]
