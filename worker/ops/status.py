"""`segsync status`: where the worker is and what it has done.

Per input partition: the Kafka group's committed offset (what lag tools see), the offset stored
with the state (what the worker resumes from: the source of truth), the end offset, and the lag
(end minus the stored offset, else the committed one, else the partition's first offset).
Totals of the store's counters: events applied / stale by type, duplicates, unknown types,
DLQ records, commands emitted; and the outbox rows not yet published.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from worker.adapters.kafka_io import client_config
from worker.errors import FatalError
from worker.ops.bus import Reader
from worker.ops.diff import require_tables
from worker.ports import TP, StateStore
from worker.settings import Settings


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    topic: str
    partition: int
    committed: int | None
    stored: int | None
    end: int
    lag: int


@dataclass(frozen=True, slots=True)
class Status:
    group_id: str
    partitions: list[PartitionStatus]
    counters: dict[str, int]
    outbox_backlog: int
    held_batches: int = 0  # mass-removal brake: batches waiting for release / discard
    held_commands: int = 0

    def to_json(self) -> dict[str, Any]:
        c = self.counters

        def by_type(prefix: str) -> dict[str, int]:
            return {k[len(prefix) :]: v for k, v in sorted(c.items()) if k.startswith(prefix)}

        return {
            "group_id": self.group_id,
            "partitions": [asdict(p) for p in self.partitions],
            "lag": sum(p.lag for p in self.partitions),
            "events": {
                "applied": by_type("events.applied."),
                "stale": by_type("events.stale."),
                "duplicate": c.get("events.duplicate", 0),
                "unknown": c.get("events.unknown", 0),
                "dlq": c.get("events.dlq", 0),
            },
            # Group commands (add, remove) and enrolment commands (enrol, unenrol).
            "commands": {
                k: c.get(f"commands.{k}", 0) for k in ("add", "remove", "enrol", "unenrol")
            },
            "outbox_backlog": self.outbox_backlog,
            "held_batches": self.held_batches,
            "held_commands": self.held_commands,
            "counters": dict(sorted(c.items())),
        }


def committed_offsets(settings: Settings, tps: list[TP]) -> dict[TP, int | None]:
    """The consumer group's committed offsets, read without joining the group."""
    try:
        consumer = KafkaConsumer(
            **client_config(settings), group_id=settings.group_id, enable_auto_commit=False
        )
    except KafkaError as exc:
        raise FatalError(f"cannot use Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        return {tp: consumer.committed(TopicPartition(*tp)) for tp in tps}
    except KafkaError as exc:
        raise FatalError(
            f"cannot read the committed offsets of {settings.group_id!r}: {exc}"
        ) from exc
    finally:
        consumer.close(autocommit=False)


def collect(settings: Settings, store: StateStore) -> Status:
    require_tables(store)
    got = store.status(settings.group_id)
    stored, counters, backlog = got.offsets, got.counters, got.outbox_backlog
    held_batches, held_commands = got.held_batches, got.held_commands
    reader = Reader(settings)
    try:
        spans = reader.spans(settings.input_topics)
    finally:
        reader.close()
    committed = committed_offsets(settings, sorted(spans))
    parts = []
    for tp in sorted(spans):
        span, done, mine = spans[tp], committed.get(tp), stored.get(tp)
        position = mine if mine is not None else done if done is not None else span.start
        lag = max(0, span.end - max(position, span.start))
        parts.append(PartitionStatus(tp[0], tp[1], done, mine, span.end, lag))
    return Status(settings.group_id, parts, counters, backlog, held_batches, held_commands)


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render(status: Status, console: Console) -> None:
    doc = status.to_json()
    parts = Table(title=f"input partitions (group {status.group_id})", title_justify="left")
    for name in ("topic", "partition", "committed", "stored", "end", "lag"):
        parts.add_column(name, justify="left" if name == "topic" else "right")
    for p in status.partitions:
        parts.add_row(
            p.topic, str(p.partition), _n(p.committed), _n(p.stored), _n(p.end), _n(p.lag)
        )
    console.print(parts)

    totals = Table(title="totals", title_justify="left")
    totals.add_column("what")
    totals.add_column("count", justify="right")
    events = doc["events"]
    for event_type, n in events["applied"].items():
        stale = events["stale"].get(event_type, 0)
        totals.add_row(
            f"applied {event_type}", f"{n:,}" + (f" (+{stale:,} stale)" if stale else "")
        )
    for event_type, n in events["stale"].items():
        if event_type not in events["applied"]:
            totals.add_row(f"applied {event_type}", f"0 (+{n:,} stale)")
    totals.add_row("duplicate events", f"{events['duplicate']:,}")
    totals.add_row("unknown event types", f"{events['unknown']:,}")
    totals.add_row("sent to the DLQ", f"{events['dlq']:,}")
    totals.add_row("commands add", f"{doc['commands']['add']:,}")
    totals.add_row("commands remove", f"{doc['commands']['remove']:,}")
    totals.add_row("commands enrol", f"{doc['commands']['enrol']:,}")
    totals.add_row("commands unenrol", f"{doc['commands']['unenrol']:,}")
    totals.add_row("outbox backlog (unpublished)", f"{status.outbox_backlog:,}")
    totals.add_row(
        "held by the brake (segsync held)",
        f"{status.held_commands:,} commands in {status.held_batches:,} batch(es)",
    )
    totals.add_row("total lag", f"{doc['lag']:,}")
    console.print(totals)
