"""Submit and cancel executions from another Python service, straight to Kafka (README, "Producing events from
another service").

    producer = KafkabanProducer(Settings.from_env(), service="billing-service")
    written = producer.submit("nightly-invoices", submitter="alice", params={"day": "2026-12-01"},
                              idempotency_key="invoices/2026-12-01")
    written.execution_id, written.partition, written.offset

Every rule is the project's own, imported rather than restated: the Avro encoding (``encode_event``), the
definition hash (``FlowSpec.version_hash``), the murmur2 partitioner, acks=all and idempotence
(``producer_config``), the execution id of an idempotency key (``execution_id_for_key``, which the engine checks),
the params checks (``param_problems``, ``check_params``) and the record size (``fits_in_a_record``). A registered
flow is resolved from the definitions topic with the engine's own catalog, as the scheduler resolves the flow a
tick starts: no PostgreSQL and no API token, only Kafka READ on ``<prefix>.definitions``.

Bad input raises ``SubmissionRefused`` before anything is sent. A call returns once the broker has acknowledged
the record (``Written``: where it is); ``NotDelivered`` means it could not confirm that. The library writes only
``ExecutionSubmitted`` and ``CancelRequested``, as producer ``external`` (the schema's one producer value for other
services), with the service's name in the ``kafkaban.service`` header and as the Kafka client id.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from engine.clock import now_ms
from engine.codec import encode_event
from engine.config import Settings
from engine.domain import events as ev
from engine.domain.ids import execution_id_for_key
from engine.domain.loader import check_flow
from engine.domain.problems import Problem
from engine.domain.spec import FlowSpec
from engine.domain.validation import param_problems, validate
from engine.kafka import MAX_RECORD_BYTES, RECORD_OVERHEAD_BYTES, fits_in_a_record, producer_config
from engine.processor.catalog import Catalog, CatalogReader, Resolved
from engine.service.errors import ServiceError
from engine.service.executions import MAX_ID_LENGTH, check_params
from engine.service.flows import MAX_FLOW_BYTES

PRODUCER = "external"  # the executions schema's Producer enum has this one value for services other than Kafkaban's
SERVICE_HEADER = "kafkaban.service"
RESERVED_SERVICES = frozenset(ev.PRODUCERS) - {PRODUCER}  # Kafkaban's own parts: a service may not pose as one
MAX_FLOW_NAME = 511  # PROJECT/FLOW, as the API's submission takes it
MAX_REASON = 2000  # a cancel's reason, as the API takes it
DELIVERY_TIMEOUT_S = 30.0
WRITABLE = (ev.ExecutionSubmitted, ev.CancelRequested)  # all this library ever writes


class ProducerError(Exception):
    """Something this library could not do; the subclass says whether anything was written."""


class SubmissionRefused(ProducerError, ValueError):
    """Bad input (unknown flow or version, invalid definition or params, a bad name): nothing was written."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message + (": " + "; ".join(problems) if problems else ""))
        self.message = message
        self.problems = problems or []


class NotDelivered(ProducerError):
    """The broker did not acknowledge the record. It may still be in the log: a retry is safe only with the same
    idempotency key (a cancel is always safe to repeat)."""


@dataclass(frozen=True)
class Written:
    """Where a record went: read your write with ``engine.projected.wait_projected``."""

    execution_id: str
    event_id: str
    topic: str
    partition: int
    offset: int


# -- the pure part: checks, resolution, the events --------------------------------------------------------------

def check_text(what: str, value: object, limit: int = MAX_ID_LENGTH) -> str:
    """A name or id as the API takes one: a non-empty string, no NUL (the views cannot hold one), bounded."""
    if not isinstance(value, str) or not value:
        raise SubmissionRefused(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise SubmissionRefused(f"a NUL character (\\0) is not allowed in {what}")
    if len(value) > limit:
        raise SubmissionRefused(f"{what} is at most {limit} characters")
    return value


def check_service(service: object) -> str:
    name = check_text("the service name", service)
    if name in RESERVED_SERVICES:
        raise SubmissionRefused(f"service name {name!r} is one of Kafkaban's own parts "
                                f"({', '.join(sorted(RESERVED_SERVICES))}); name your service")
    return name


def _problems(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def resolve_inline(definition: str | FlowSpec, name: str | None = None) -> Resolved:
    """An inline definition, parsed and validated as the API's submission does (``name`` names a flow without a
    ``name`` key)."""
    if isinstance(definition, FlowSpec):
        spec, problems = definition, validate(definition)
    elif isinstance(definition, str):
        if len(definition.encode()) > MAX_FLOW_BYTES:
            raise SubmissionRefused(f"inline definition is larger than {MAX_FLOW_BYTES} bytes")
        found, problems = check_flow(definition, default_name=name or "inline")
        if found is None:
            raise SubmissionRefused("invalid flow definition", _problems(problems))
        spec = found
    else:
        raise SubmissionRefused(f"an inline definition is YAML text or a FlowSpec, not {type(definition).__name__}")
    if problems:
        raise SubmissionRefused("invalid flow definition", _problems(problems))
    return Resolved(spec, None, None, spec.version_hash())


def resolve_registered(catalog: Catalog, flow: str, project: str | None = None, version: str | None = None,
                       ) -> Resolved:
    """A registered flow (or a project's flow) by name, the latest version unless ``version`` pins one: the rule
    the engine applies to a schedule's tick (``Catalog.resolve``), on what the definitions topic holds."""
    check_text("the flow name", flow, MAX_FLOW_NAME)
    if version is not None:
        check_text("the version", version)
    if project is not None:
        check_text("the project", project)
        if "/" in flow:
            raise SubmissionRefused(f"flow {flow!r} with a project: give the flow's own name")
        flow = f"{project}/{flow}"
    found = catalog.resolve(flow, version)
    if isinstance(found, str):
        raise SubmissionRefused(found)
    return found


def submission_event(resolved: Resolved, params: Mapping[str, str], submitter: str,
                     idempotency_key: str | None = None, correlation_id: str | None = None,
                     occurred_at: int | None = None) -> ev.Event:
    """The ``ExecutionSubmitted`` the engine runs, or SubmissionRefused for what it would reject (the params'
    checks are the API's and the engine's own)."""
    check_text("the submitter", submitter)
    if not isinstance(params, Mapping):
        raise SubmissionRefused("params must be a mapping of names to strings")
    for name, value in params.items():
        check_text("a param name", name)
        if not isinstance(value, str):
            raise SubmissionRefused(f"param {name!r} must be a string, not {type(value).__name__}")
    try:
        check_params(dict(params))
    except ServiceError as exc:
        raise SubmissionRefused(exc.detail) from exc
    problems = param_problems(resolved.spec, params)
    if problems:
        raise SubmissionRefused("bad params", problems)
    if correlation_id is not None:
        check_text("the correlation id", correlation_id)
    spec = resolved.spec
    if idempotency_key is not None:
        # the engine rejects a keyed submission under any other id, and keeps the first submission of an id
        execution_id = execution_id_for_key(spec.name, check_text("the idempotency key", idempotency_key),
                                            resolved.project)
    else:
        execution_id = str(uuid.uuid4())
    return ev.Event(str(uuid.uuid4()), execution_id, now_ms() if occurred_at is None else occurred_at, PRODUCER,
                    ev.ExecutionSubmitted(
                        flow_name=spec.name, definition_hash=resolved.version, definition=spec, params=dict(params),
                        submitter=submitter, idempotency_key=idempotency_key, project=resolved.project,
                        archive=resolved.archive),
                    correlation_id=correlation_id)


def cancel_event(execution_id: str, requested_by: str, reason: str | None = None,
                 occurred_at: int | None = None) -> ev.Event:
    check_text("the execution id", execution_id)
    check_text("requested_by", requested_by)
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise SubmissionRefused(f"a cancel's reason is a string of at most {MAX_REASON} characters")
    return ev.Event(str(uuid.uuid4()), execution_id, now_ms() if occurred_at is None else occurred_at, PRODUCER,
                    ev.CancelRequested(requested_by, reason))


def client_config(settings: Settings, service: str, delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
                  ) -> dict[str, Any]:
    """The engine's producer settings (murmur2, acks=all, idempotence, the record size limit, security), named
    after the service; librdkafka gives up on a record when the caller's wait ends, so a timeout is final."""
    return producer_config(settings, **{"client.id": service,
                                        "message.timeout.ms": max(1, round(delivery_timeout_s * 1000))})


# -- the Kafka part -------------------------------------------------------------------------------------------

class KafkabanProducer:
    """Writes submissions and cancels to ``<prefix>.executions``; safe to share between threads."""

    def __init__(self, settings: Settings, service: str, delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
                 catalog: CatalogReader | None = None) -> None:
        self.settings = settings
        self.service = check_service(service)
        self.delivery_timeout_s = delivery_timeout_s
        self._producer = Producer(client_config(settings, self.service, delivery_timeout_s))
        self._catalog = catalog
        self._catalog_lock = threading.Lock()

    def submit(self, flow: str | None = None, *, submitter: str, project: str | None = None,
               version: str | None = None, definition: str | FlowSpec | None = None,
               params: Mapping[str, str] | None = None, idempotency_key: str | None = None,
               correlation_id: str | None = None) -> Written:
        """Run a registered flow (``flow``, optionally a ``project``'s and a pinned ``version``), or an inline
        ``definition`` (``flow`` then names it if it has no name). With an ``idempotency_key`` the execution id
        is derived from it, so submitting again (a retry after NotDelivered, a second instance) starts nothing
        new: the engine keeps the first submission of an id."""
        if definition is not None:
            if project is not None or version is not None:
                raise SubmissionRefused("project and version name a registered flow; an inline definition has "
                                        "neither")
            resolved = resolve_inline(definition, flow)
        elif flow is None:
            raise SubmissionRefused("give a flow name (flow) or an inline definition (definition)")
        else:
            resolved = self._registered(flow, project, version)
        event = submission_event(resolved, params or {}, submitter, idempotency_key, correlation_id)
        return self._write(event)

    def cancel(self, execution_id: str, *, requested_by: str, reason: str | None = None) -> Written:
        """Ask the engine to cancel an execution. One that has ended stays as it is; an id the engine does not
        know is dead-lettered by it."""
        return self._write(cancel_event(execution_id, requested_by, reason))

    def _registered(self, flow: str, project: str | None, version: str | None) -> Resolved:
        """The flow as the definitions topic holds it now: every definition registered before this call counts.
        (Resolved under the lock: a refresh by another thread changes the catalog's dicts.)"""
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = CatalogReader(self.settings)
            try:
                catalog = self._catalog.refresh()
            except (KafkaException, RuntimeError, TimeoutError) as exc:
                raise ProducerError(f"could not read {self.settings.definitions_topic}: {exc}") from exc
            return resolve_registered(catalog, flow, project, version)

    def _write(self, event: ev.Event) -> Written:
        if not isinstance(event.payload, WRITABLE) or event.producer != PRODUCER:
            raise ProducerError(f"{event.type} is not an event another service writes")  # engine-only, by design
        value = encode_event(event, self.settings.schema_registry_url)
        if not fits_in_a_record(value):
            raise SubmissionRefused(f"the submission encodes to {len(value):,} bytes (definition and params); at "
                                    f"most {MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES:,} fit in one Kafka record")
        topic = self.settings.executions_topic
        done = threading.Event()
        result: dict[str, Any] = {}

        def delivered(error: KafkaError | None, message: Any) -> None:
            result["error"], result["message"] = error, message
            done.set()

        try:
            self._producer.produce(topic, key=event.execution_id.encode(), value=value, on_delivery=delivered,
                                   headers=[(SERVICE_HEADER, self.service.encode())])
        except BufferError as exc:
            raise NotDelivered(f"not sent to {topic}: the local queue is full") from exc
        except KafkaException as exc:  # refused before sending: nothing left this process
            if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE:
                raise SubmissionRefused(f"{len(value):,} bytes are too large for one record of {topic}") from exc
            raise ProducerError(f"not sent to {topic}: {exc.args[0]}") from exc
        # librdkafka reports every record by message.timeout.ms; the margin covers the report's own way back
        deadline = time.monotonic() + self.delivery_timeout_s + 5.0
        while not done.is_set():
            if time.monotonic() > deadline:
                raise NotDelivered(f"no delivery report from {topic} within {self.delivery_timeout_s:g} s")
            self._producer.poll(0.05)  # serves the reports (whichever thread polls runs each callback)
        error = result["error"]
        if error is not None:
            raise NotDelivered(f"{topic} did not take {event.type} {event.event_id}: {error}")
        message = result["message"]
        return Written(event.execution_id, event.event_id, topic, message.partition(), message.offset())

    def close(self) -> None:
        """Wait for records still in flight (there are none after a call returned), then let go of the clients."""
        self._producer.flush(self.delivery_timeout_s)
        with self._catalog_lock:
            if self._catalog is not None:
                self._catalog.close()

    def __enter__(self) -> KafkabanProducer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
