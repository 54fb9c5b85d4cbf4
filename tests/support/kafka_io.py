"""Plain Kafka I/O for tests: create topics, produce records, read a topic back entirely.

Everything goes through kafka-python, the same client the worker uses; nothing here
uses a consumer group, so reading a topic leaves no trace on the broker.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.consumer.fetcher import ConsumerRecord

# (key, value, headers), as the worker and the LMS put them on the wire.
Header = tuple[str, bytes]
Record = tuple[bytes | None, bytes | None, Sequence[Header]]


class TopicFactory(Protocol):
    """The `topic_factory` fixture: creates a uniquely named topic, returns its name."""

    def __call__(
        self, name_prefix: str = "t", partitions: int = 3, configs: dict[str, str] | None = None
    ) -> str: ...


def unique_topic_name(name_prefix: str = "t") -> str:
    return f"{name_prefix}-{uuid.uuid4().hex[:12]}"


def create_topic(
    admin: KafkaAdminClient,
    name: str,
    partitions: int = 3,
    timeout_s: float = 30,
    configs: dict[str, str] | None = None,
) -> None:
    """Create `name` with an explicit partition count (the test broker never auto-creates)
    and topic `configs` (e.g. max.message.bytes), and wait until every partition has a leader.

    Retention is off unless `configs` says otherwise: many tests produce records stamped in
    2023-2024, and the broker's retention check (every 5 min) deleted them between produce
    and consume, so a worker found an empty topic and reported "caught up" (a CI failure)."""
    spec: dict[str, Any] = {
        "num_partitions": partitions,
        "replication_factor": 1,
        "configs": {"retention.ms": "-1", **(configs or {})},
    }
    admin.create_topics(
        {name: spec},
        timeout_ms=int(timeout_s * 1000),
    )
    admin.wait_for_topics([name], timeout_ms=int(timeout_s * 1000))


def topic_maker(admin: KafkaAdminClient, created: list[str]) -> TopicFactory:
    """A topic factory on `admin`; every name it makes is appended to `created` (for the
    fixture's teardown, `delete_topics`)."""

    def make(
        name_prefix: str = "t", partitions: int = 3, configs: dict[str, str] | None = None
    ) -> str:
        name = unique_topic_name(name_prefix)
        create_topic(admin, name, partitions, configs=configs)
        created.append(name)
        return name

    return make


def delete_topics(admin: KafkaAdminClient, names: Sequence[str]) -> None:
    """Best effort: a test that already failed must not fail again at teardown."""
    if not names:
        return
    with contextlib.suppress(Exception):  # teardown, best effort
        admin.delete_topics(list(names), timeout_ms=10_000, raise_errors=False)


def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    partition: int | None = None,
    timeout_s: float = 30,
) -> list[Any]:
    """Produce `records` in order with acks=all and wait until every one is acknowledged.

    `partition=None` lets the default partitioner place each record by its key (murmur2,
    as the Java client does). Returns the brokers' RecordMetadata, in input order.
    """
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="segsync-tests-producer",
        acks="all",
        linger_ms=5,
    )
    try:
        futures = [
            producer.send(topic, key=key, value=value, headers=list(headers), partition=partition)
            for key, value, headers in records
        ]
        producer.flush(timeout=timeout_s)
        return [f.get(timeout=timeout_s) for f in futures]
    finally:
        producer.close(timeout=10)


def consume_all(
    bootstrap: str,
    topic: str,
    timeout_s: float = 10,
    isolation_level: str = "read_uncommitted",
) -> list[ConsumerRecord]:
    """Every record of every partition of `topic`, from the beginning up to the end offsets
    as they were when reading began, sorted by (partition, offset).

    No consumer group: the partitions are assigned and read directly. Raises TimeoutError
    if the end offsets are not reached within `timeout_s`. Pass
    `isolation_level="read_committed"` to see only committed transactional records.
    """
    deadline = time.monotonic() + timeout_s
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="segsync-tests-reader",
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    try:
        partitions: set[int] | None = consumer.partitions_for_topic(topic)
        while not partitions:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"topic {topic!r}: no partitions known after {timeout_s}s")
            time.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end: dict[Any, int] = consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        pending = {tp for tp in tps if consumer.position(tp) < end[tp]}
        while pending:
            if time.monotonic() >= deadline:
                where = {tp.partition: (consumer.position(tp), end[tp]) for tp in pending}
                raise TimeoutError(
                    f"topic {topic!r}: end offsets not reached after {timeout_s}s "
                    f"(partition: (position, end) = {where})"
                )
            batches: dict[Any, list[ConsumerRecord]] = consumer.poll(timeout_ms=200)
            for tp, batch in batches.items():
                out.extend(r for r in batch if r.offset < end[tp])
            pending = {tp for tp in pending if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()
    out.sort(key=lambda r: (r.partition, r.offset))
    return out
