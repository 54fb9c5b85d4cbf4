"""Observability of the worker: Prometheus metrics, liveness and readiness, log context.

The loop and the Kafka adapters call the small functions below; they only record (a few
counter increments and attribute writes per batch) and never raise into the loop. The HTTP
server (`serve`) runs when `SEGSYNC_METRICS_PORT` is set.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from worker.observability import metrics
from worker.observability.health import LoopState, StoreSampler
from worker.observability.server import HttpServer
from worker.ports import TP

if TYPE_CHECKING:
    from worker.ports import StateStore
    from worker.settings import Settings

STATE = LoopState()


# --- from the loop ---
def progress() -> None:
    STATE.progress()


def published() -> None:
    STATE.published()
    STATE.progress()


def retrying(what: str) -> None:
    metrics.record_retry(what)


@contextlib.contextmanager
def batch(records: Sequence[Any]) -> Iterator[None]:
    """Around one batch (apply, publish, commit): log context, timing, liveness marks."""
    first = records[0]
    STATE.in_batch = True
    start = time.perf_counter()
    with structlog.contextvars.bound_contextvars(
        topic=first.topic, partition=first.partition, offset=first.offset
    ):
        try:
            yield
        finally:
            STATE.in_batch = False
            # applied() binds the batch's first event id: it must not follow later lines
            # ("caught up", the next empty poll) that are about no event of this batch.
            structlog.contextvars.unbind_contextvars("event_id")
    metrics.record_batch(len(records), time.perf_counter() - start)
    STATE.progress()


def applied(event_ids: Sequence[str | None], types: Sequence[str | None], counts: Any) -> None:
    """After the state commit: count by type and outcome; bind the batch's first event id."""
    metrics.record_events(types, dict(counts))
    first = next((e for e in event_ids if e is not None), None)
    if first is not None:
        structlog.contextvars.bind_contextvars(event_id=first)


# --- from the Kafka adapters ---
def assigned(partitions: set[TP]) -> None:
    STATE.joined = True
    STATE.assigned = len(partitions)
    metrics.record_rebalance("assigned", len(partitions))


def revoked(partitions: set[TP], still_assigned: int) -> None:
    STATE.assigned = still_assigned
    metrics.record_rebalance("revoked", still_assigned)
    metrics.forget_partitions(partitions)


def consumer_status(broker_ok: bool, lags: dict[TP, int]) -> None:
    STATE.broker_ok = broker_ok
    STATE.lag = sum(max(0, v) for v in lags.values())
    metrics.set_consumer_lag(lags)


def records_published(records: Iterable[Any]) -> None:
    metrics.record_published(records, time.time())


def tally_published(records: Iterable[Any]) -> metrics.Published:
    """What `records_published` would count, as values (a publisher process sends them)."""
    return metrics.tally_published(records, time.time())


def count_published(published: metrics.Published) -> None:
    metrics.count_published(published)


# --- the HTTP server and the store sampler ---
@dataclass
class Serving:
    server: HttpServer | None
    sampler: StoreSampler

    @property
    def port(self) -> int:
        return self.server.port if self.server is not None else 0

    def stop(self) -> None:
        STATE.stopping = True
        self.sampler.stop()
        if self.server is not None:
            self.server.stop()


def serve(settings: Settings, store: StateStore) -> Serving:
    """Start the store sampler, and the HTTP server when `metrics_port` is set (not 0)."""
    STATE.liveness_timeout_s = settings.liveness_timeout_s
    STATE.outbox_stuck_s = settings.outbox_stuck_s
    STATE.progress()
    STATE.published()
    sampler = StoreSampler(store, STATE)
    sampler.sample_once()
    sampler.start()
    server = None
    if settings.metrics_port:
        server = HttpServer(settings.metrics_host, settings.metrics_port, STATE)
        server.start()
    return Serving(server, sampler)


def started() -> None:
    STATE.started = True
    STATE.progress()


def stopping() -> None:
    STATE.stopping = True
