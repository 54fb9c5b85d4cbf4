"""The test services are the real thing: an Apache Kafka 4 broker and PostgreSQL 15."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
import pytest
from kafka.record import util as record_util

from tests.support.kafka_io import TopicFactory, consume_all, produce
from tests.support.services import psycopg_conninfo

pytestmark = pytest.mark.integration

KEYS = 40
PER_KEY = 10


def test_records_round_trip_in_key_order_over_four_partitions(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    # The C extension computes the record batches' CRC-32C, not the pure-Python fallback.
    assert record_util.crc32c_c is not None

    topic = topic_factory("real", partitions=4)
    records = [
        (
            f"user-{i % KEYS}".encode(),
            f"{i % KEYS}:{i // KEYS}".encode(),
            [("seq", str(i // KEYS).encode()), ("ce_type", b"lms.test")],
        )
        for i in range(KEYS * PER_KEY)
    ]
    metadata = produce(kafka_bootstrap, topic, records)
    assert len(metadata) == KEYS * PER_KEY

    got = consume_all(kafka_bootstrap, topic)
    assert len(got) == KEYS * PER_KEY
    assert {r.partition for r in got} == {0, 1, 2, 3}
    assert [(r.partition, r.offset) for r in got] == sorted((r.partition, r.offset) for r in got)

    per_key: dict[bytes, list[Any]] = defaultdict(list)
    for r in got:
        per_key[r.key].append(r)
    assert len(per_key) == KEYS
    for key, recs in per_key.items():
        assert len({r.partition for r in recs}) == 1, f"{key!r} spread over partitions"
        seqs = [int(dict(r.headers)["seq"]) for r in recs]
        assert seqs == list(range(PER_KEY)), f"{key!r} out of order: {seqs}"
        assert [r.value for r in recs] == [
            f"{key.decode().removeprefix('user-')}:{s}".encode() for s in range(PER_KEY)
        ]
        assert all(dict(r.headers)["ce_type"] == b"lms.test" for r in recs)


def test_broker_is_apache_kafka_4(kafka_admin: Any) -> None:
    cluster = kafka_admin.describe_cluster()
    assert cluster["cluster_id"]
    broker_id = cluster["brokers"][0]["broker_id"]
    data = kafka_admin.get_broker_version_data(broker_id)
    # kafka-python infers the version from the ApiVersions response.
    assert tuple(data.broker_version) >= (4, 0), data.broker_version
    # Kafka 4.0 removed Fetch v0-v3 (KIP-896): only a 4.x broker reports 4 as the minimum.
    fetch_min, _ = data.api_versions[1]
    assert fetch_min >= 4
    # KRaft: the cluster has a finalized metadata.version and kraft.version feature.
    features = kafka_admin.describe_features()
    assert "metadata.version" in features
    assert "kraft.version" in features


def test_postgresql_is_15(pg_url: str) -> None:
    with psycopg.connect(psycopg_conninfo(pg_url)) as conn:
        row = conn.execute("SELECT version(), current_database()").fetchone()
    assert row is not None
    version, database = row
    assert "PostgreSQL 15" in version
    assert database.startswith("segsync_test_")
