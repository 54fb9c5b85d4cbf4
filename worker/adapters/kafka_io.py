"""The Kafka side: client settings and the command producer (the consumer: kafka_input.py)."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaProducer
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from worker import destinations, logs, observability, shutdown
from worker.adapters.lean_send import LeanSend
from worker.adapters.partitioner import KeyPartitioner
from worker.adapters.security import kafka_security_kwargs
from worker.engine.dlq import fit, is_dead_letter, without_nulls
from worker.errors import FatalError, TransientError
from worker.ports import OutboxRecord, PendingRecord
from worker.settings import Settings

log = logs.get("segsync.kafka")
STOP_GRACE_S = 2.0  # how long acks are still awaited once a stop is requested
_MIN_BUDGET = 4096  # below this, a refusal is not about the record's size


def client_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": [b.strip() for b in settings.kafka_bootstrap.split(",")],
        "client_id": settings.client_id,
        **kafka_security_kwargs(settings),
    }


def make_producer(settings: Settings) -> KafkaProducer:
    """The one producer configuration, for the worker's outbox and the ops commands alike:
    idempotent, acks=all, so that a record is either acknowledged by every in-sync replica
    or retried without a duplicate. Both flush after each send window, so linger only
    bounds the wait of a lone record."""
    return KafkaProducer(
        **client_config(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        compression_type=None,
        max_request_size=settings.kafka_max_request_bytes,
        partitioner=KeyPartitioner(),  # the default's partitions, cheaper
    )


class KafkaSink:
    """Idempotent producer with acks=all; `send_all` returns only when every record is acked.

    A DLQ copy too big for the producer is cut to fit before it is sent; when the broker still
    refuses one as too large (the DLQ topic's max.message.bytes is lower), the next attempt
    cuts to half that size, so an oversized record never stops the worker. kafka-python
    cannot send a null header value: a DLQ copy carries it empty, named in a header."""

    def __init__(self, settings: Settings, timeout_s: float = 30.0, count: bool = True) -> None:
        self.timeout_s = timeout_s
        self.count = count  # False: the caller counts what is published (a publisher process)
        self.topics = destinations.topics(settings)
        self.settings = settings
        self.max_request = settings.kafka_max_request_bytes
        self.dlq_budget = self.max_request  # lowered when the broker refuses a DLQ copy
        self.abandoned = False  # a flush given up on because of a stop request
        self.producer = self._producer()

    def _producer(self) -> KafkaProducer:
        producer = make_producer(self.settings)
        self._lean = LeanSend(producer)  # commands skip send()'s per-record checks
        return producer

    def send_all(self, records: list[PendingRecord]) -> None:
        unknown = {r.destination for r in records} - set(self.topics)
        if unknown:  # a row from a newer version: publishing it anywhere would be a guess
            raise FatalError(f"outbox rows for unknown destinations: {sorted(unknown)}")
        try:
            futures = [self._send(r) for r in records]
            self._flush()
            for f in futures:
                if not f.is_done:
                    f.get(timeout=self.timeout_s)
                elif f.failed():  # get() would build a timer per record to tell the same
                    raise f.exception
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
        if self.count:
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
        if not is_dead_letter(r):
            return self._lean.send(
                self.topics[r.destination], r.key, r.value, r.headers, r.timestamp_ms
            )
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
