"""The records the port carries: outbox rows, held batches of the brake, and the sink
they are published to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from worker.ports.shapes import Headers


class CommandMeta(NamedTuple):
    """What the metrics need of a command once acknowledged, kept beside its bytes."""

    command_type: str
    reason: str
    cause_time_us: int


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    destination: str  # a role (worker/destinations.py), not a topic name
    key: bytes | None
    value: bytes | None
    headers: Headers
    # Kafka record timestamp; None: the producer's clock (commands). DLQ copies keep theirs.
    timestamp_ms: int | None = field(default=None, kw_only=True)
    meta: CommandMeta | None = field(default=None, kw_only=True)  # commands only


@dataclass(frozen=True, slots=True)
class PendingRecord(OutboxRecord):
    seq: int


@dataclass(frozen=True, slots=True)
class HeldBatch:
    id: int
    source: str
    cause_event_id: str
    cause_type: str
    detail: str
    status: str
    commands: int


@dataclass(frozen=True, slots=True)
class HeldRecord:
    course_id: str
    group_id: str
    user_id: str
    record: OutboxRecord


class RecordSink(Protocol):
    """Publishes records and returns only once all are acknowledged (acks=all)."""

    def send_all(self, records: list[PendingRecord]) -> None: ...
