"""Prometheus metrics of the worker, on a registry of their own (served by server.py).

Names (all prefixed `segsync_`):
  events_consumed_total{type,outcome}     outcome: applied, stale, duplicate, dlq, unknown
                                          (type is "other" for dlq and unknown records)
  commands_published_total{type,reason}   acknowledged by the brokers (re-publishes count)
  dlq_published_total                     records acknowledged on the DLQ topic
  batch_records / batch_duration_seconds  histograms: records per batch, poll-to-commit time
  event_to_publish_lag_seconds            histogram: a command's cause (LMS time) to its ack
  consumer_lag_records{topic,partition}   high watermark minus the next offset to read
  assigned_partitions                     partitions this worker holds
  outbox_backlog_records / held_removals  sampled from the store every few seconds
  rebalances_total{kind}                  kind: assigned, revoked
  retries_total{what}                     transient failures retried (broker, database)
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from worker.destinations import COMMAND, ENROL_COMMAND

# No `<name>_created` series beside every counter and histogram: nothing reads them, and
# each labelled child doubles the series count. (Process-wide; set before any metric.)
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

OUTCOMES = ("applied", "stale", "duplicate", "dlq", "unknown")
OTHER = "other"

EVENTS = Counter(
    "segsync_events_consumed",
    "Input records consumed, by event type and outcome.",
    ["type", "outcome"],
    registry=REGISTRY,
)
COMMANDS = Counter(
    "segsync_commands_published",
    "Commands acknowledged by the brokers, by type (lms.group.member.* for group sync, "
    "lms.course.* for segment sync enrolment) and reason.",
    ["type", "reason"],
    registry=REGISTRY,
)
DLQ_PUBLISHED = Counter(
    "segsync_dlq_published", "Records acknowledged on the DLQ topic.", registry=REGISTRY
)
BATCH_RECORDS = Histogram(
    "segsync_batch_records",
    "Records per polled batch.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "segsync_batch_duration_seconds",
    "Time from a batch's poll to its Kafka offset commit (apply, publish, commit).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
PUBLISH_LAG = Histogram(
    "segsync_event_to_publish_lag_seconds",
    "From the causing event's time (LMS time) to the command's acknowledgement.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "segsync_consumer_lag_records",
    "Records between the next offset to read and the high watermark, per partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)
ASSIGNED = Gauge(
    "segsync_assigned_partitions", "Input partitions this worker holds.", registry=REGISTRY
)
OUTBOX_BACKLOG = Gauge(
    "segsync_outbox_backlog_records",
    "Records in the outbox not yet acknowledged (all workers of the store).",
    registry=REGISTRY,
)
HELD_REMOVALS = Gauge(
    "segsync_held_removals",
    "Removal commands held by the mass-removal brake, awaiting an operator.",
    registry=REGISTRY,
)
REBALANCES = Counter(
    "segsync_rebalances", "Consumer group rebalances seen.", ["kind"], registry=REGISTRY
)
RETRIES = Counter(
    "segsync_retries",
    "Transient failures retried with backoff, by operation.",
    ["what"],
    registry=REGISTRY,
)

Record = Any  # an outbox record: .destination, .meta (CommandMeta | None)
_COMMAND_ROLES = frozenset((COMMAND, ENROL_COMMAND))


def record_events(event_types: Sequence[str | None], counts: dict[str, int]) -> None:
    """Count a batch's records by type and outcome.

    `event_types`: the type of each decoded event (None for DLQ and unknown-type records);
    `counts`: the batch's counters as apply_batch names them (`events.applied.<type>`,
    `events.stale.<type>`, `events.duplicate`, `events.dlq`, `events.unknown`).
    Duplicates carry no type there: they are what is left of each type's events once the
    applied and stale ones are taken away.
    """
    left: Tally[str] = Tally(t for t in event_types if t is not None)
    for name, n in counts.items():
        if not name.startswith("events.") or not n:
            continue
        outcome, _, etype = name.removeprefix("events.").partition(".")
        if outcome in ("applied", "stale") and etype:
            EVENTS.labels(etype, outcome).inc(n)
            left[etype] -= n
        elif outcome in ("dlq", "unknown"):
            EVENTS.labels(OTHER, outcome).inc(n)
    for etype, n in left.items():
        if n > 0:
            EVENTS.labels(etype, "duplicate").inc(n)


def record_batch(records: int, seconds: float) -> None:
    BATCH_RECORDS.observe(records)
    BATCH_SECONDS.observe(seconds)


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish adds to the metrics: plain values, so that a publisher process
    (worker.adapters.publisher_process) can send them to the process that serves them."""

    commands: dict[tuple[str, str], int]  # (command type, reason) -> commands acked
    lags: list[float]  # seconds from each command's cause to its ack
    dlq: int


def tally_published(records: Iterable[Record], now: float) -> Published:
    """After the acks: commands (group and enrolment) by type and reason, their lags, DLQ
    copies. Labels come from the row (`meta`): the command's JSON is not parsed again."""
    commands: Tally[tuple[str, str]] = Tally()
    lags: list[float] = []
    dlq = 0
    for r in records:
        if r.destination not in _COMMAND_ROLES:
            dlq += 1
            continue
        meta = r.meta
        if meta is None:  # queued before the outbox kept them
            commands[(OTHER, OTHER)] += 1
            continue
        commands[(meta.command_type, meta.reason or OTHER)] += 1
        lags.append(max(0.0, now - meta.cause_time_us / 1e6))
    return Published(dict(commands), lags, dlq)


def count_published(p: Published) -> None:
    """Per batch, not per record: one increment per label set and per histogram bucket (each
    call takes a lock, and a batch holds thousands of commands)."""
    if p.dlq:
        DLQ_PUBLISHED.inc(p.dlq)
    for (ctype, reason), n in p.commands.items():
        COMMANDS.labels(ctype, reason).inc(n)
    observe_many(PUBLISH_LAG, p.lags)


def record_published(records: Iterable[Record], now: float) -> None:
    count_published(tally_published(records, now))


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(a)` for every amount, as one increment per bucket touched and one
    of the sum. (prometheus_client keeps per-bucket counts, the first bound >= the amount;
    tests/observability hold this equal to observe().)"""
    if not amounts:
        return
    bounds = histogram._upper_bounds
    for i, n in Tally(bisect_left(bounds, a) for a in amounts).items():
        histogram._buckets[i].inc(n)
    histogram._sum.inc(sum(amounts))


def record_rebalance(kind: str, assigned: int) -> None:
    REBALANCES.labels(kind).inc()
    ASSIGNED.set(assigned)


def record_retry(what: str) -> None:
    RETRIES.labels(what).inc()


def set_consumer_lag(lags: dict[tuple[str, int], int]) -> None:
    for (topic, part), lag in lags.items():
        CONSUMER_LAG.labels(topic, str(part)).set(max(0, lag))


def forget_partitions(partitions: Iterable[tuple[str, int]]) -> None:
    for topic, part in partitions:
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(topic, str(part))
