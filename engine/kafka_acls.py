"""The Kafka ACLs each Kafkaban part needs on a cluster that enforces them (README, "Running against a secured Kafka").

Each function gives the ACL bindings of one part's principal (``User:<name>``), for confluent-kafka's
``AdminClient.create_acls``. ``python -m engine.kafka_acls worker --pool gpu --principal User:worker-gpu`` prints
them; ``--apply`` creates them, connecting with the KAFKABAN_* settings of the environment (a principal allowed to
alter ACLs: a super user, or one with ALTER on the cluster). ``python -m engine.kafka_acls topics --pool gpu``
creates the topics, as that principal too.

Topics are the operator's to create when a part may not (workers, projector and API have no CREATE here); the
engine creates the dispatch topic of a new pool when it first dispatches to it, so it keeps CREATE.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from engine.config import Settings
from engine.kafka import admin_config, ensure_topics
from engine.log_reader import partitions_of
from engine.processor import snapshots

Grant = tuple[ResourceType, str, ResourcePatternType, AclOperation]

LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
TOPIC, GROUP, TRANSACTIONAL_ID = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
READ, WRITE, CREATE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE


def _bindings(principal: str, grants: Iterable[Grant], host: str = "*") -> list[AclBinding]:
    if not principal.startswith("User:"):
        raise ValueError(f"a Kafka principal looks like User:<name>, not {principal!r}")
    return [AclBinding(resource, name, pattern, principal, host, operation, AclPermissionType.ALLOW)
            for resource, name, pattern, operation in dict.fromkeys(grants)]


def worker_acls(settings: Settings, pool: str, principal: str) -> list[AclBinding]:
    """A worker of ``pool``: it reads its pool's dispatch topic (in the pool's group) and the control topic (kills),
    and writes job events, heartbeats, log lines and dead letters. Nothing else: not another pool's dispatches, not
    definitions or schedules, and no topic creation."""
    grants: list[Grant] = [
        (TOPIC, settings.dispatch_topic(pool), LITERAL, READ),
        (GROUP, f"{settings.topic_prefix}.workers.{pool}", LITERAL, READ),
        (TOPIC, settings.control_topic, LITERAL, READ),
        # each worker reads the control topic under a group id of its own (no commits, but the id is looked up)
        (GROUP, f"{settings.topic_prefix}.control.", PREFIXED, READ),
        *((TOPIC, topic, LITERAL, WRITE) for topic in (settings.executions_topic, settings.heartbeats_topic,
                                                        settings.logs_topic, settings.deadletter_topic)),
    ]
    return _bindings(principal, grants)


def engine_acls(settings: Settings, principal: str) -> list[AclBinding]:
    """The engine folds and writes the log, dispatches to every pool (creating a new pool's topic), reads the
    definitions, schedules and dead letters, and keeps faust's own topics, group and transactions (exactly_once)."""
    app = f"{settings.topic_prefix}-engine"  # engine.processor.app.app_id: faust's group and internal topics
    grants: list[Grant] = [
        *((TOPIC, f"{settings.topic_prefix}.", PREFIXED, op) for op in (READ, WRITE, CREATE)),
        *((TOPIC, f"{app}-", PREFIXED, op) for op in (READ, WRITE, CREATE)),
        (GROUP, app, LITERAL, READ),
        # read-to-end readers (rebuild on assignment, catalog, dependency triggers) take a fresh group id each
        *((GROUP, name, PREFIXED, READ) for name in ("kafkaban-reader-", "kafkaban-catalog-", "kafkaban-triggers-")),
        *((TRANSACTIONAL_ID, app, PREFIXED, op) for op in (WRITE, DESCRIBE)),
    ]
    return _bindings(principal, grants)


def projector_acls(settings: Settings, principal: str) -> list[AclBinding]:
    """The projector reads every topic it turns into views (and `projections rebuild`, run as it, does too);
    DESCRIBE on the rest lets its start-up check see that they exist."""
    reads = [settings.executions_topic, settings.definitions_topic, settings.deadletter_topic, settings.logs_topic,
             settings.heartbeats_topic, settings.schedules_topic, settings.topic("access")]
    grants: list[Grant] = [
        *((TOPIC, topic, LITERAL, READ) for topic in reads),
        (TOPIC, f"{settings.topic_prefix}.", PREFIXED, DESCRIBE),
        (GROUP, f"{settings.topic_prefix}-projector", LITERAL, READ),
        (GROUP, "kafkaban-rebuild-", PREFIXED, READ),
    ]
    return _bindings(principal, grants)


def api_acls(settings: Settings, principal: str) -> list[AclBinding]:
    """The API writes submissions and cancels, flow definitions, schedules and access changes; DESCRIBE on every
    topic serves the lag metric (high watermarks)."""
    writes = [settings.executions_topic, settings.definitions_topic, settings.schedules_topic,
              settings.topic("access")]
    grants: list[Grant] = [
        *((TOPIC, topic, LITERAL, WRITE) for topic in writes),
        (TOPIC, f"{settings.topic_prefix}.", PREFIXED, DESCRIBE),
        (GROUP, "kafkaban-api-", PREFIXED, READ),
    ]
    return _bindings(principal, grants)


def acls_for(part: str, settings: Settings, principal: str, pool: str | None = None) -> list[AclBinding]:
    if part == "worker":
        if not pool:
            raise ValueError("a worker's ACLs depend on its pool")
        return worker_acls(settings, pool, principal)
    makers = {"engine": engine_acls, "projector": projector_acls, "api": api_acls}
    if part not in makers:
        raise ValueError(f"no ACL set for {part!r}: one of worker, engine, projector, api")
    return makers[part](settings, principal)


def apply_acls(settings: Settings, bindings: list[AclBinding], timeout: float = 30.0) -> None:
    """Create the bindings (creating one that exists changes nothing)."""
    admin = AdminClient(admin_config(settings))
    for future in admin.create_acls(bindings, request_timeout=timeout).values():
        future.result()


def describe(binding: AclBinding) -> str:
    """One binding as kafka-acls.sh would name it."""
    return (f"{binding.permission_type.name} {binding.principal} {binding.operation.name} "
            f"{binding.restype.name}:{binding.resource_pattern_type.name}:{binding.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.kafka_acls", description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["worker", "engine", "projector", "api", "topics"],
                        help="a part's ACLs, or `topics`: create Kafkaban's topics and those of --pool")
    parser.add_argument("--principal", help="User:<name>, the part's SASL user")
    parser.add_argument("--pool", action="append", default=[], help="a worker's pool (topics: repeatable)")
    parser.add_argument("--apply", action="store_true", help="create them (as the KAFKABAN_KAFKA_* user)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.part == "topics":
        # parts without CREATE find their topics made: the base ones and each pool's dispatch topic
        topics = [*settings.base_topics(), *(settings.dispatch_topic(pool) for pool in args.pool)]
        ensure_topics(settings, topics)
        # compacted, and as many partitions as the executions topic has
        snapshots.ensure_topic(settings, len(partitions_of(settings, settings.executions_topic)))
        print("\n".join([*topics, settings.snapshots_topic]))
        return 0
    if not args.principal:
        parser.error("--principal is required")
    if args.part == "worker" and len(args.pool) != 1:
        parser.error("a worker's ACLs take one --pool")
    bindings = acls_for(args.part, settings, args.principal, args.pool[0] if args.pool else None)
    for binding in bindings:
        print(describe(binding))
    if args.apply:
        apply_acls(settings, bindings)
        print(f"created {len(bindings)} ACLs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
