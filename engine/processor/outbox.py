"""How the engine writes its records: through librdkafka under at_least_once, through faust under exactly_once.

faust's producer is aiokafka's, which batches and frames every record in Python on the event loop: a third of the
engine's time went there, and each batch's wait for delivery cost tens of milliseconds while the loop was busy.
librdkafka produces from its own threads, so under at_least_once the engine hands its records to a confluent-kafka
producer and awaits their delivery as one batch. Under exactly_once the records must be part of faust's
transaction with the consumed offsets, so they go through faust's producer as before.

Both keep the order of the records of one partition (the idempotent producer keeps it across retries), and both
raise when a record could not be delivered: the caller then exits without committing what it read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from confluent_kafka import KafkaError, KafkaException, Producer

from engine.config import Settings
from engine.kafka import producer_config

Send = tuple[faust.TopicT, bytes | None, bytes, Any]  # topic, key, value, headers
Placed = tuple[int, int]  # where a record was appended: partition, offset
SendAll = Callable[[list[Send]], Awaitable[list[Placed]]]
POLL_S = 0.05
FULL_QUEUE_WAIT_S = 0.005
EXIT_UNWRITTEN = 75  # EX_TEMPFAIL: a batch's results could not be written; restarting is the remedy
log = logging.getLogger("kafkaban.engine")


async def faust_send_all(sends: list[Send]) -> list[Placed]:
    futures = [await topic.send(key=key, value=value, headers=headers) for topic, key, value, headers in sends]
    placed = []
    for future in futures:
        metadata = await future  # delivered
        placed.append((metadata.partition, metadata.offset))
    return placed


class Outbox:
    """A confluent-kafka producer for an asyncio engine: ``send_all`` returns once every record is delivered."""

    def __init__(self, settings: Settings) -> None:
        self.producer = Producer(producer_config(settings))
        self._names: dict[int, str] = {}
        # delivery reports are served by a thread of ours, so the event loop never blocks in poll()
        self._thread = threading.Thread(target=self._serve, name="kafkaban-outbox", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            self.producer.poll(POLL_S)

    def _topic_name(self, topic: faust.TopicT) -> str:
        name = self._names.get(id(topic))
        if name is None:
            name = self._names[id(topic)] = topic.get_topic_name()
        return name

    async def send_all(self, sends: list[Send]) -> list[Placed]:
        """Produce ``sends`` in order; return once all are delivered, with where each was appended."""
        if not sends:
            return []
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Placed]] = loop.create_future()
        placed: list[Placed] = [(-1, -1)] * len(sends)
        left = [len(sends)]
        failures: list[str] = []

        def finish() -> None:
            if done.done():
                return
            if failures:
                done.set_exception(KafkaException(f"{len(failures)} record(s) not delivered: {failures[0]}"))
            else:
                done.set_result(placed)

        def delivered(index: int, err: KafkaError | None, message: Any) -> None:  # on the poll thread
            if err is not None:
                failures.append(str(err))
            else:
                placed[index] = (message.partition(), message.offset())
            left[0] -= 1
            if left[0] == 0:
                loop.call_soon_threadsafe(finish)

        for index, (topic, key, value, headers) in enumerate(sends):
            name = self._topic_name(topic)
            while True:
                try:
                    self.producer.produce(name, value=value, key=key, headers=headers or None,
                                          on_delivery=partial(delivered, index))
                    break
                except BufferError:  # librdkafka's queue is full: let it drain
                    await asyncio.sleep(FULL_QUEUE_WAIT_S)
        return await done


def engine_send_all(settings: Settings) -> SendAll:
    if settings.processing_guarantee == "exactly_once":
        return faust_send_all
    return Outbox(settings).send_all


async def write_or_exit(what: str, writing: Awaitable[object]) -> None:
    """Await ``writing`` (a batch's results), or stop the process. faust acks a batch when its loop body is left,
    even by an exception: leaving then would commit records whose results were never written. Whoever restarts
    this engine (or the partition's next owner) reads them again."""
    try:
        await writing
    except BaseException:
        log.critical("could not write the results of %s; exiting without committing it", what, exc_info=True)
        os._exit(EXIT_UNWRITTEN)
