"""The LMS side of the benchmarks: the producer that offers the events.

It must never be the bottleneck it is measuring against, so it uses confluent-kafka
(librdkafka) when that is installed, with the Java client's partitioner (murmur2, as an LMS
on the JVM keys records), and kafka-python otherwise. The worker, the passthrough ceiling
and every reader use kafka-python, the worker's own client.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from kafka import KafkaProducer

from bench.history import Header


def describe() -> str:
    try:
        return f"confluent-kafka {metadata.version('confluent-kafka')}"
    except metadata.PackageNotFoundError:
        return f"kafka-python {metadata.version('kafka-python')}"


class LmsProducer:
    """acks=all producer; `send` never blocks for long, `flush` waits for every ack and
    raises if any record failed."""

    def __init__(self, bootstrap: str, linger_ms: int = 20) -> None:
        self.failed: list[str] = []
        self._ck: Any = None
        self._kp: KafkaProducer | None = None
        try:
            from confluent_kafka import Producer
        except ImportError:
            self._kp = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id="segsync-bench-lms",
                acks="all",
                linger_ms=linger_ms,
                batch_size=512 * 1024,
                max_request_size=8 * 1024 * 1024,
            )
            return
        self._ck = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": "segsync-bench-lms",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "batch.size": 1024 * 1024,
                "queue.buffering.max.messages": 1_000_000,
                "partitioner": "murmur2_random",  # what the Java client does with a key
            }
        )

    def warm_up(self, topic: str, timeout_s: float = 30) -> None:
        """Metadata and the connection first: a latency clock started before would count the
        client's own start-up (0.4-0.5 s) against the first events."""
        if self._kp is not None:
            self._kp.partitions_for(topic)
            return
        self._ck.list_topics(topic, timeout=timeout_s)

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed.append(str(err))

    def send(self, topic: str, key: bytes, value: bytes, headers: list[Header]) -> None:
        if self._kp is not None:
            self._kp.send(topic, key=key, value=value, headers=headers)
            return
        while True:
            try:
                self._ck.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self._ck.poll(0.01)
        self._ck.poll(0)

    def flush(self, timeout_s: float = 600) -> None:
        if self._kp is not None:
            self._kp.flush(timeout=timeout_s)
        else:
            left = self._ck.flush(timeout_s)
            if left:
                raise TimeoutError(f"{left} records not acknowledged after {timeout_s}s")
        if self.failed:
            raise RuntimeError(f"{len(self.failed)} records failed, first: {self.failed[0]}")

    def close(self) -> None:
        if self._kp is not None:
            self._kp.close(timeout=30)
        else:
            self._ck.flush(30)
