"""The Kafka side: the input consumer (offsets seeked from the store) and the command producer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.structs import OffsetAndMetadata

from worker import destinations, logs, observability, shutdown
from worker.adapters.security import kafka_security_kwargs
from worker.engine.dlq import fit, is_dead_letter, without_nulls
from worker.engine.records import InRecord
from worker.errors import FatalError, TransientError
from worker.ports import OutboxRecord, PendingRecord
from worker.settings import Settings

TP = tuple[str, int]
log = logs.get("segsync.kafka")
COMMIT_TIMEOUT_MS = 5000  # Kafka's copy of the offsets is for lag tools only
STOP_GRACE_S = 2.0  # how long acks are still awaited once a stop is requested
_MIN_BUDGET = 4096  # below this, a refusal is not about the record's size


def client_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": [b.strip() for b in settings.kafka_bootstrap.split(",")],
        "client_id": settings.client_id,
        **kafka_security_kwargs(settings),
    }


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaInput) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.owner.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        try:
            self.owner.on_assigned({(tp.topic, tp.partition) for tp in assigned})
        except Exception as exc:
            # kafka-python replaces the error with a generic one: say what it was first.
            log.error("assignment failed", error=repr(exc)[:500])
            raise


class KafkaInput:
    """Consumes the input topics. On every assignment `seek_to` says where each partition
    resumes (the offsets stored with the state); partitions it does not know start at the
    beginning, since the store is the source of truth and has not seen them."""

    def __init__(self, settings: Settings, seek_to: Callable[[set[TP]], dict[TP, int]]) -> None:
        self._seek_to = seek_to
        self.assigned: set[TP] = set()
        self.joined = False
        self.rebalances = 0
        self._next: dict[TP, int] = {}  # next offset to read, where known (for the lag)
        self._status_at = 0.0
        self.consumer = KafkaConsumer(
            **client_config(settings),
            group_id=settings.group_id,
            group_instance_id=settings.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_max_records,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 4),
            # A subscribed topic without metadata yet is assigned nothing until the next
            # refresh: refresh every 30 s rather than kafka-python's 5 minutes.
            metadata_max_age_ms=30_000,
        )
        # Load the input topics' metadata before joining, so that the first assignment
        # already covers their partitions (seen once: a join before the metadata, an empty
        # assignment, and nothing consumed until the next refresh).
        for topic in settings.input_topics:
            self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe(list(settings.input_topics), listener=_Listener(self))

    def on_revoked(self, revoked: set[TP]) -> None:
        self.assigned -= revoked
        for tp in revoked:
            self._next.pop(tp, None)
        observability.revoked(revoked, len(self.assigned))

    def on_assigned(self, assigned: set[TP]) -> None:
        self.joined = True
        self.rebalances += 1
        self.assigned = set(assigned)
        stored = self._seek_to(assigned)
        self._next.update({tp: off for tp, off in stored.items() if tp in assigned})
        observability.assigned(self.assigned)
        fresh = []
        for topic, part in sorted(assigned):
            tp = TopicPartition(topic, part)
            if (topic, part) in stored:
                self.consumer.seek(tp, stored[(topic, part)])
            else:
                fresh.append(tp)
        if fresh:
            self.consumer.seek_to_beginning(*fresh)

    def poll(self, timeout_ms: int) -> list[InRecord]:
        try:
            batches = self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:  # e.g. the coordinator unreachable while the broker restarts
            raise TransientError(f"polling Kafka failed: {exc}") from exc
        out: list[InRecord] = []
        for tp, records in batches.items():
            for r in records:
                out.append(
                    InRecord(
                        tp.topic,
                        tp.partition,
                        r.offset,
                        r.key,
                        r.value,
                        r.headers or [],
                        r.timestamp,
                    )
                )
            if records:
                self._next[(tp.topic, tp.partition)] = records[-1].offset + 1
        self._report_status()
        return out

    def _report_status(self, every_s: float = 1.0) -> None:
        """At most once a second: coordinator reachable, and lag per assigned partition
        (high watermark from the last fetch minus the next offset to read)."""
        now = time.monotonic()
        if now - self._status_at < every_s:
            return
        self._status_at = now
        lags: dict[TP, int] = {}
        for tp in self.assigned:
            try:
                high = self.consumer.highwater(TopicPartition(*tp))
            except Exception:
                continue
            if high is not None and tp in self._next:
                lags[tp] = high - self._next[tp]
            elif high == 0:
                lags[tp] = 0
        try:
            broker_ok = not self.consumer._coordinator.coordinator_unknown()
        except Exception:  # kafka-python internals moved: fall back to "joined"
            broker_ok = self.joined
        observability.consumer_status(broker_ok, lags)

    def end_offsets(self, topics: Iterable[str]) -> dict[TP, int]:
        try:
            tps = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(self.consumer.partitions_for_topic(t) or ())
            ]
            ends = self.consumer.end_offsets(tps) if tps else {}
        except KafkaError as exc:
            raise TransientError(f"reading end offsets failed: {exc}") from exc
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    def position(self, tp: TP) -> int:
        return int(self.consumer.position(TopicPartition(*tp)))

    def commit(self, offsets: dict[TP, int]) -> None:
        """Offsets go to Kafka too, for lag tools; the store's copy is what seeking uses."""
        mine = {
            TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
            for (t, p), o in offsets.items()
            if (t, p) in self.assigned
        }
        if mine:
            # Bounded: without a timeout kafka-python retries for ever while the coordinator
            # is away, and a stop would wait for the broker to come back.
            self.consumer.commit(mine, timeout_ms=COMMIT_TIMEOUT_MS)

    def close(self) -> None:
        # Bounded too (kafka-python's default is request_timeout_ms, 5 minutes).
        self.consumer.close(autocommit=False, timeout_ms=COMMIT_TIMEOUT_MS)


class KafkaSink:
    """Idempotent producer with acks=all; `send_all` returns only when every record is acked.

    A DLQ copy too big for the producer is cut to fit before it is sent; when the broker still
    refuses one as too large (the DLQ topic's max.message.bytes is lower), the next attempt
    cuts to half that size, so an oversized record never stops the worker. kafka-python
    cannot send a null header value: a DLQ copy carries it empty, named in a header."""

    def __init__(self, settings: Settings, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self.topics = destinations.topics(settings)
        self.config = client_config(settings)
        self.max_request = settings.kafka_max_request_bytes
        self.dlq_budget = self.max_request  # lowered when the broker refuses a DLQ copy
        self.abandoned = False  # a flush given up on because of a stop request
        self.producer = self._producer()

    def _producer(self) -> KafkaProducer:
        return KafkaProducer(
            **self.config,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            batch_size=256 * 1024,
            max_in_flight_requests_per_connection=5,
            compression_type=None,
            max_request_size=self.max_request,
        )

    def send_all(self, records: list[PendingRecord]) -> None:
        unknown = {r.destination for r in records} - set(self.topics)
        if unknown:  # a row from a newer version: publishing it anywhere would be a guess
            raise FatalError(f"outbox rows for unknown destinations: {sorted(unknown)}")
        try:
            futures = [self._send(r) for r in records]
            self._flush()
            for f in futures:
                f.get(timeout=self.timeout_s)
        except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
            # Only a DLQ copy can be this big (commands are bounded): the DLQ topic takes less
            # than the producer may send. The idempotent producer is unusable after such a
            # refusal: start a new one and publish again with half the budget (duplicates of
            # records acked before are harmless: ids are deterministic).
            self.dlq_budget = max(_MIN_BUDGET, min(self.dlq_budget, self.max_request) // 2)
            log.warning(
                "a DLQ record was refused as too large: cutting to fit", budget=self.dlq_budget
            )
            self.producer.close(timeout=0)
            self.producer = self._producer()
            raise TransientError(f"publishing to Kafka failed: {exc}") from exc
        except KafkaError as exc:
            raise TransientError(f"publishing to Kafka failed: {exc}") from exc
        observability.records_published(records)

    def _flush(self) -> None:
        """Wait for the acks up to `timeout_s`, in short slices: once a stop is requested
        (worker/shutdown.py) the wait ends STOP_GRACE_S later, so that a stop during a broker
        outage is prompt; what is not acked stays in the outbox."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                self.producer.flush(timeout=0.2)
                return
            except KafkaTimeoutError:
                if shutdown.requested.is_set():
                    self.abandoned = True
                    deadline = min(deadline, time.monotonic() + STOP_GRACE_S)
                if time.monotonic() >= deadline:
                    raise

    def _send(self, r: OutboxRecord) -> Any:
        if is_dead_letter(r):
            r = fit(without_nulls(r), self.dlq_budget)
        return self.producer.send(
            self.topics[r.destination],
            key=r.key,
            value=r.value,
            headers=list(r.headers),
            timestamp_ms=r.timestamp_ms,
        )

    def close(self) -> None:
        # After an abandoned flush the broker is away: do not wait for it again.
        self.producer.close(timeout=0 if self.abandoned else self.timeout_s)
