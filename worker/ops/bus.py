"""Kafka for the ops commands: reading topics without a consumer group, and publishing.

Reading never joins or commits for a consumer group: it assigns every partition, seeks,
and stops at the end offsets it saw at start-up, so the live worker never notices it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from worker import destinations, shutdown
from worker.adapters.input_consumer import in_record
from worker.adapters.kafka_io import client_config, make_producer
from worker.codec import COMMAND_HEADER, us_to_rfc3339
from worker.engine.records import InRecord
from worker.errors import FatalError
from worker.ports import TP, OutboxRecord
from worker.settings import Settings

STALL_S: Final = 120.0  # no record and no progress for this long: give up


def _unreachable(settings: Settings, exc: Exception) -> FatalError:
    return FatalError(f"cannot use Kafka at {settings.kafka_bootstrap}: {exc}")


def cloud_event(
    destination: str,
    *,
    key: str,
    source: str,
    event_id: str,
    event_type: str,
    time_us: int,
    data: Mapping[str, str],
) -> OutboxRecord:
    """One structured-mode CloudEvent record, as the LMS would publish it."""
    value = orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": event_type,
            "time": us_to_rfc3339(time_us),
            "datacontenttype": "application/json",
            "data": dict(data),
        }
    )
    headers = [COMMAND_HEADER]
    return OutboxRecord(destination, key.encode("utf-8"), value, headers)


def require_topic(settings: Settings, topic: str) -> None:
    """Fail at once, in one line, when a topic is missing (a send would block a minute)."""
    reader = Reader(settings)
    try:
        reader.partitions([topic])
    finally:
        reader.close()


class Publisher:
    """Idempotent producer, acks=all. `acked` counts records the brokers acknowledged."""

    def __init__(self, settings: Settings, window: int = 5000, timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.window = window
        self.timeout_s = timeout_s
        self.acked = 0
        self._topics = destinations.topics(settings)
        self._futures: list[Any] = []
        try:
            self._producer = make_producer(settings)
        except KafkaError as exc:
            raise _unreachable(settings, exc) from exc

    def send(self, record: OutboxRecord) -> None:
        try:
            future = self._producer.send(
                self._topics[record.destination],
                key=record.key,
                value=record.value,
                headers=list(record.headers),
            )
        except KafkaError as exc:
            raise self._failed(exc) from exc
        self._futures.append(future)
        if len(self._futures) >= self.window:
            self.flush()

    def flush(self) -> None:
        """Wait for every record sent so far to be acknowledged."""
        try:
            self._producer.flush(timeout=self.timeout_s)
            for future in self._futures:
                future.get(timeout=self.timeout_s)
                self.acked += 1
        except KafkaError as exc:
            raise self._failed(exc) from exc
        finally:
            self._futures.clear()

    def _failed(self, exc: Exception) -> FatalError:
        return FatalError(f"publishing failed after {self.acked} acknowledged records: {exc}")

    def close(self) -> None:
        with contextlib.suppress(KafkaError):
            # Interrupted: do not wait for records a dead broker will never take.
            self._producer.close(timeout=0 if shutdown.requested.is_set() else self.timeout_s)


@dataclass(frozen=True, slots=True)
class Span:
    """Where a read starts and stops (exclusive) on one partition."""

    start: int
    end: int


class Reader:
    """Reads topics from given offsets up to the end offsets at start-up, with no group."""

    def __init__(self, settings: Settings, max_poll_records: int = 1000) -> None:
        self.settings = settings
        try:
            self.consumer = KafkaConsumer(
                **client_config(settings),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=max_poll_records,
            )
        except KafkaError as exc:
            raise _unreachable(settings, exc) from exc

    def partitions(self, topics: Iterable[str]) -> list[TP]:
        out: list[TP] = []
        for topic in topics:
            try:
                parts = self.consumer.partitions_for_topic(topic)
            except KafkaError as exc:
                raise _unreachable(self.settings, exc) from exc
            if not parts:
                raise FatalError(
                    f"topic {topic!r} does not exist on {self.settings.kafka_bootstrap}"
                )
            out.extend((topic, p) for p in sorted(parts))
        return out

    def spans(self, topics: Iterable[str], since_ms: int | None = None) -> dict[TP, Span]:
        """Per partition: from the beginning (or the first record at/after since_ms) to the end."""
        tps = [TopicPartition(t, p) for t, p in self.partitions(topics)]
        try:
            ends = self.consumer.end_offsets(tps)
            if since_ms is None:
                starts = self.consumer.beginning_offsets(tps)
            else:
                found = self.consumer.offsets_for_times({tp: since_ms for tp in tps})
                starts = {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in tps}
        except KafkaError as exc:
            raise _unreachable(self.settings, exc) from exc
        return {(tp.topic, tp.partition): Span(starts[tp], ends[tp]) for tp in tps}

    def read(self, spans: Mapping[TP, Span]) -> Iterator[list[InRecord]]:
        """The records of every span, one poll's worth at a time, in the worker's order."""
        tps = {tp: TopicPartition(*tp) for tp in spans}
        self.consumer.assign(list(tps.values()))
        for tp, span in spans.items():
            self.consumer.seek(tps[tp], span.start)
        todo = {tp for tp, span in spans.items() if span.start < span.end}
        done = [tps[tp] for tp in spans if tp not in todo]
        if done:
            self.consumer.pause(*done)
        last_progress = time.monotonic()
        while todo:
            try:
                polled = self.consumer.poll(timeout_ms=500)
            except KafkaError as exc:
                raise _unreachable(self.settings, exc) from exc
            out: list[InRecord] = []
            for ktp, records in polled.items():
                end = spans[(ktp.topic, ktp.partition)].end
                out.extend(
                    in_record(ktp.topic, ktp.partition, r) for r in records if r.offset < end
                )
            for tp in sorted(todo):
                if self.consumer.position(tps[tp]) >= spans[tp].end:
                    todo.discard(tp)
                    self.consumer.pause(tps[tp])
            if out:
                last_progress = time.monotonic()
                yield out
            elif time.monotonic() - last_progress > STALL_S:
                left = ", ".join(f"{t}[{p}]" for t, p in sorted(todo))
                raise FatalError(f"reading stalled for {STALL_S:g}s on {left}")

    def close(self) -> None:
        with contextlib.suppress(KafkaError):
            self.consumer.close(autocommit=False)
