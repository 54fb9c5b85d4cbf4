"""The outbox's command sends, past kafka-python's per-record checks.

`KafkaProducer.send` checks every record again before it hands it to its accumulator: the
header types one by one, the (absent) serializers, a size estimate, a debug line built with
`str(producer)` whether or not debug logging is on. On a publish of thousands of commands
that was about a quarter of the producer's CPU per record (10-11 µs of 41-45, measured with
the worker's own producer settings: docs/BENCHMARKS.md). A command is bytes this worker
built, so `LeanSend` does what `send` does after its checks: the partition from the
producer's own partitioner, then the accumulator's `append`, waking the sender thread when a
batch fills or starts, as `send` does. The record on the broker is the same
(tests/integration/test_lean_send.py holds the two equal).

Anything else goes through `send` unchanged: a record without a key or value (the sticky
partitioning of keyless records lives in `send`), a topic whose metadata is not loaded yet
(`send` waits for it), a record within reach of the request size limit (`send` raises the
error the publisher handles), headers that are not (str, bytes), a closed producer, and a
producer whose internals are not the ones read here (another kafka-python version),
checked once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.partitioner import Partitioner
from kafka.structs import TopicPartition

# Room left for the record's own framing (lengths, varints, batch header) under the limit.
_FRAMING = 1024


class LeanSend:
    def __init__(self, producer: KafkaProducer) -> None:
        self.producer = producer
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        try:
            self._append = producer._accumulator.append
            self._wakeup = producer._sender.wakeup
            self._metadata = producer._metadata
            self._partitioner = producer.config["partitioner"]
            limit = producer.config["max_request_size"]
            transactions = producer._transaction_manager
        except (AttributeError, KeyError, TypeError):
            self.lean = False
            return
        self._limit = int(limit) - _FRAMING
        # `send`'s own path for these (a partitioner of the old interface, transactions).
        transactional = transactions is not None and transactions.is_transactional()
        self.lean = isinstance(self._partitioner, Partitioner) and not transactional

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
        timestamp_ms: int | None,
    ) -> Any:
        """A future of the record's metadata, as `KafkaProducer.send` returns."""
        if (
            key is None
            or value is None
            or not self._fits(key, value, headers)
            or self._metadata.partitions_for_topic(topic) is None  # not loaded: `send` waits
        ):
            return self.producer.send(
                topic, key=key, value=value, headers=list(headers), timestamp_ms=timestamp_ms
            )
        partition = self._partitioner.partition(topic, key, key, value, value, self._metadata)
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        future, batch_full, new_batch, _ = self._append(tp, timestamp_ms, key, value, headers)
        if batch_full or new_batch:
            self._wakeup()
        return future

    def _fits(self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes | None]]) -> bool:
        if not self.lean or type(key) is not bytes or type(value) is not bytes:
            return False
        if self.producer._closed:  # `send` raises the error a closed producer gives
            return False
        size = len(key) + len(value)
        for name, raw in headers:
            if type(name) is not str or type(raw) is not bytes:
                return False
            size += len(name) + len(raw)
        return size < self._limit
