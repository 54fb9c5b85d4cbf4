"""The lean fetch (worker/adapters/lean_fetch.py) on a real broker: a consumer with it
returns the records a plain kafka-python consumer returns (then converted as the worker
did before), on records written by kafka-python (plain and gzip batches, null keys and
values, a LogAppendTime topic, committed and aborted transactions read both ways) and by
kcat (librdkafka: a null header value); in small polls, so batches are taken in parts; and
the consumers end at the same positions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.serializer import Deserializer

from tests.support.kafka_io import TopicFactory
from tests.support.kcat import produce_one
from worker.adapters import lean_fetch
from worker.adapters.input_consumer import in_record
from worker.adapters.kafka_input import KafkaInput
from worker.engine.records import InRecord
from worker.settings import Settings

pytestmark = pytest.mark.integration
Row = tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]], int]


def _produce(bootstrap: str, topic: str, compression: str | None, n: int) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, compression_type=compression
    )
    try:
        for i in range(n):
            key = None if i % 11 == 0 else f"site-1|user-{i}".encode()
            value = (
                None if i % 13 == 6 and key else b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i % 300))
            )
            headers = [("ce_id", b"%d" % i), ("ce_type", b"lms.enrolment.created")][: i % 3]
            ts = None if i % 2 else 1_700_000_000_000 + i
            producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def _transactions(bootstrap: str, topic: str) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"lean-fetch-{topic}", acks="all"
    )
    try:
        producer.init_transactions()
        for txn in range(6):
            producer.begin_transaction()
            for i in range(7):
                producer.send(topic, key=b"k%d" % i, value=b"txn %d record %d" % (txn, i))
            producer.flush(timeout=30)  # on the broker before the marker, aborted or not
            if txn % 2:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close(timeout=10)


def _read(bootstrap: str, topic: str, lean: bool, isolation: str) -> tuple[list[Row], Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation,
        max_poll_records=7,  # batches taken in parts
    )
    try:
        if lean:
            assert lean_fetch.install(consumer)
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        rows: list[Row] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "end offsets not reached"
            for tp, records in consumer.poll(timeout_ms=200).items():
                for r in records:
                    if lean:
                        assert isinstance(r, InRecord)
                    else:
                        r = in_record(tp.topic, tp.partition, r)
                    rows.append(
                        (r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp_ms)
                    )
        return rows, {tp.partition: consumer.position(tp) for tp in tps}
    finally:
        consumer.close()


def _same(bootstrap: str, topic: str, isolation: str = "read_uncommitted") -> list[Row]:
    plain = _read(bootstrap, topic, False, isolation)
    lean = _read(bootstrap, topic, True, isolation)
    assert lean == plain
    return lean[0]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_records_are_those_kafka_python_returns(
    kafka_bootstrap: str, topic_factory: TopicFactory, compression: str | None
) -> None:
    topic = topic_factory("lean-fetch", partitions=3)
    _produce(kafka_bootstrap, topic, compression, 600)
    rows = _same(kafka_bootstrap, topic)
    assert len(rows) == 600
    assert any(r[2] is None for r in rows) and any(r[3] is None for r in rows)


def test_log_append_time_is_the_brokers(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory(
        "lean-fetch-lat", partitions=2, configs={"message.timestamp.type": "LogAppendTime"}
    )
    before = int(time.time() * 1000)
    _produce(kafka_bootstrap, topic, None, 200)
    rows = _same(kafka_bootstrap, topic)
    assert len(rows) == 200 and all(r[5] >= before for r in rows)


def test_transactions_read_committed_and_uncommitted(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("lean-fetch-txn", partitions=1)
    _transactions(kafka_bootstrap, topic)
    committed = _same(kafka_bootstrap, topic, "read_committed")
    assert [r[3] for r in committed] == [
        b"txn %d record %d" % (t, i) for t in (0, 2, 4) for i in range(7)
    ]
    everything = _same(kafka_bootstrap, topic, "read_uncommitted")
    assert len(everything) == 42  # markers (control batches) are never returned


def test_a_null_header_value_sent_by_kcat(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("lean-fetch-kcat", partitions=1)
    produce_one(kafka_bootstrap, topic, b"k", b'{"a": 1}', [("ce_id", b"1"), ("trace", None)])
    rows = _same(kafka_bootstrap, topic)
    assert rows[0][4] == [("ce_id", b"1"), ("trace", None)]


class _Upper(Deserializer):  # type: ignore[misc]
    def deserialize(self, topic: str, headers: Any, data: bytes | None) -> bytes | None:
        return None if data is None else data.upper()


def test_a_consumer_it_cannot_read_for_is_left_as_it_is(kafka_bootstrap: str) -> None:
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, value_deserializer=_Upper())
    try:
        assert lean_fetch.install(consumer) is False
        assert consumer._fetcher.PartitionRecords is not lean_fetch.LeanPartitionRecords
    finally:
        consumer.close()


def test_the_worker_reads_lean_and_the_benchmark_ceiling_raw(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    """The worker's consumer gets the lean fetch; the passthrough ceiling (bench/passthrough.py)
    builds the same KafkaInput with lean=False and keeps kafka-python's records."""
    topic = topic_factory("lean-fetch-input", partitions=1)
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url="sqlite:///unused.sqlite",
        input_topics=[topic],
        group_id=f"lean-{topic}",
    )
    for lean, kind in ((True, lean_fetch.LeanPartitionRecords), (False, Fetcher.PartitionRecords)):
        src = KafkaInput(settings, lambda tps: {tp: 0 for tp in tps}, lean=lean)
        try:
            assert src.consumer._fetcher.PartitionRecords is kind
        finally:
            src.consumer.close()
