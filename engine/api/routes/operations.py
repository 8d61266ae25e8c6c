"""Operations: health, Prometheus metrics, workers, dead letters, and where a dev stack's parts are."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from engine.api.deps import Admin, Ctx, Reader
from engine.api.security import PUBLIC
from engine.config import Settings
from engine.domain.state import ExecutionStatus
from engine.kafka import consumer_config
from engine.service import dead_letters
from engine.service.errors import ServiceError
from projections import queries
from projections.schedule_queries import schedule_metrics

router = APIRouter(tags=["operations"])


class Watermarks:
    """High watermarks of the topics, for the projector lag metric."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = Consumer(consumer_config(settings, f"kafkaban-api-{uuid.uuid4()}"))
        self.lock = threading.Lock()

    def high(self, topic: str, partition: int) -> int | None:
        with self.lock:
            try:
                return int(self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=2)[1])
            except Exception:
                return None


@router.get("/healthz", dependencies=[Depends(PUBLIC)])
def healthz(ctx: Ctx) -> dict[str, Any]:
    with ctx.db() as conn:
        conn.execute("SELECT 1")
    return {"status": "ok"}


@router.get("/api/v1/dev/connection", include_in_schema=False)
def dev_connection(principal: Admin, ctx: Ctx) -> dict[str, Any]:
    """Where a `kafkaban dev` stack's broker and database are, for the CLI's log-reading commands: only on a dev
    stack, and only to an admin."""
    if not ctx.settings.dev_stack:
        raise ServiceError(404, "not a kafkaban dev stack")
    return {"bootstrap": ctx.settings.bootstrap, "database_url": ctx.settings.database_url}


@router.get("/api/v1/workers")
def list_workers(principal: Reader, ctx: Ctx) -> dict[str, Any]:
    """Workers by their last heartbeat: pool, slots, running attempts, alive (heard from in 15 s)."""
    with ctx.db() as conn:
        return {"workers": queries.list_workers(conn)}


@router.get("/api/v1/pools")
def list_pools(principal: Reader, ctx: Ctx) -> dict[str, Any]:
    """Each pool: live workers, slots and slots used, and the jobs waiting for it (queued or dispatched; the first
    20, oldest first). A pool with jobs waiting and no live worker is one whose jobs will not run."""
    with ctx.db() as conn:
        return {"pools": queries.pools(conn)}


@router.get("/api/v1/dead-letters")
async def list_dead_letters(principal: Reader, ctx: Ctx,
                            limit: int = Query(dead_letters.DEFAULT_LIMIT, ge=1, le=dead_letters.MAX_LIMIT),
                            topic: str | None = Query(None, max_length=255)) -> dict[str, Any]:
    """Records the engine or a worker refused, newest first, read from the dead-letter topic: when and why each was
    refused, the topic, partition and offset it came from, where it sits in the dead-letter topic, its key, size, a
    bounded preview and the event it decodes to (when it does). `topic` keeps those of one source topic among the
    newest `limit` of each partition. 503 when the broker does not answer in time."""
    return await asyncio.to_thread(dead_letters.listed, ctx, limit, topic)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(principal: Reader, ctx: Ctx, request: Request) -> str:
    """Prometheus text format: executions by status, dispatch latency, projector lag."""
    return await asyncio.to_thread(_metrics, ctx, request.app.state.watermarks)


def _metrics(ctx: Ctx, watermarks: Watermarks) -> str:
    with ctx.db() as conn:
        counts = queries.status_counts(conn)
        latencies = sorted(queries.dispatch_latencies(conn))
        positions = queries.projector_positions(conn)
        schedules = schedule_metrics(conn)
        misplaced = queries.misplaced_counts(conn)
    out = ["# HELP kafkaban_executions Executions by status.", "# TYPE kafkaban_executions gauge"]
    for status in ExecutionStatus:
        out.append(f'kafkaban_executions{{status="{status.value}"}} {counts.get(status.value, 0)}')
    out += ["# HELP kafkaban_dispatch_latency_seconds Queued to started, last 1000 attempts.",
            "# TYPE kafkaban_dispatch_latency_seconds summary"]
    for quantile in (0.5, 0.95, 0.99):
        value = latencies[min(int(quantile * len(latencies)), len(latencies) - 1)] if latencies else 0.0
        out.append(f'kafkaban_dispatch_latency_seconds{{quantile="{quantile}"}} {value:.6f}')
    out += [f"kafkaban_dispatch_latency_seconds_sum {sum(latencies):.6f}",
            f"kafkaban_dispatch_latency_seconds_count {len(latencies)}",
            "# HELP kafkaban_projector_lag Records in the log the projector has not written yet.",
            "# TYPE kafkaban_projector_lag gauge"]
    for topic, partition, next_offset in sorted(positions):
        high = watermarks.high(topic, partition)
        if high is not None:
            out.append(f'kafkaban_projector_lag{{topic="{topic}",partition="{partition}"}} '
                       f"{max(high - next_offset, 0)}")
    out += ["# HELP kafkaban_misplaced_records_total Records a producer put on another partition than their key's "
            "(forwarded by the engine to their key's partition).",
            "# TYPE kafkaban_misplaced_records_total counter"]
    for topic, producer, records in misplaced:
        out.append(f'kafkaban_misplaced_records_total{{topic="{label(topic)}",producer="{label(producer)}"}} '
                   f"{records}")
    out += ["# HELP kafkaban_schedules Schedules by status.", "# TYPE kafkaban_schedules gauge"]
    for status in ("ACTIVE", "PAUSED", "DELETED"):
        out.append(f'kafkaban_schedules{{status="{status}"}} {schedules["schedules"].get(status, 0)}')
    out += ["# HELP kafkaban_schedule_ticks_total Ticks decided, by outcome.",
            "# TYPE kafkaban_schedule_ticks_total counter"]
    for outcome in ("FIRED", "SKIPPED", "BUFFERED"):
        out.append(f'kafkaban_schedule_ticks_total{{outcome="{outcome}"}} {schedules["ticks"].get(outcome, 0)}')
    lag = schedules["fire_lag_seconds"] or {}
    out += ["# HELP kafkaban_schedule_missed_total Skip decisions for missed ticks (after downtime).",
            "# TYPE kafkaban_schedule_missed_total counter",
            f"kafkaban_schedule_missed_total {schedules['missed']}",
            "# HELP kafkaban_schedule_fire_lag_seconds Decided minus logical time of on-time fires, last hour.",
            "# TYPE kafkaban_schedule_fire_lag_seconds summary"]
    for quantile, key in ((0.5, "p50"), (0.99, "p99")):
        out.append(f'kafkaban_schedule_fire_lag_seconds{{quantile="{quantile}"}} {float(lag.get(key) or 0):.6f}')
    out.append(f"kafkaban_schedule_fire_lag_seconds_count {lag.get('fires', 0)}")
    return "\n".join(out) + "\n"


def label(value: str) -> str:
    """A Prometheus label value: a producer names itself, so its name may hold quotes, backslashes or newlines."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
