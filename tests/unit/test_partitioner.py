"""The producer's partitioner puts every key where kafka-python's default partitioner (the
Java client's murmur2) does: commands of one pair stay on one partition whichever client
or version wrote them. It is only faster."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner, murmur2

from worker.adapters.partitioner import KeyPartitioner, murmur2_fast


class _Cluster:
    def __init__(self, partitions: int) -> None:
        self.parts = {"t": set(range(partitions))}

    def topics(self) -> set[str]:
        return set(self.parts)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.parts.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.parts.get(topic, set())


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_murmur2_is_the_java_clients(key: bytes) -> None:
    assert murmur2_fast(key) == murmur2(key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.integers(1, 64))
def test_same_partition_as_the_default(keys: list[bytes], partitions: int) -> None:
    cluster: Any = _Cluster(partitions)
    ours, theirs = KeyPartitioner(max_keys=8), DefaultPartitioner()
    for key in keys + keys:  # the second time from its memory of the key
        assert ours.partition("t", key, key, b"v", b"v", cluster) == theirs.partition(
            "t", key, key, b"v", b"v", cluster
        )


def test_unknown_topic_and_null_key_as_the_default() -> None:
    cluster: Any = _Cluster(6)
    with pytest.raises(ValueError, match="not found"):
        KeyPartitioner().partition("nope", b"k", b"k", None, None, cluster)
    assert KeyPartitioner().partition("t", None, None, b"v", b"v", cluster) in range(6)


def test_the_producer_uses_it() -> None:
    from worker.adapters import kafka_io
    from worker.settings import Settings

    made: dict[str, Any] = {}

    class _Producer:
        def __init__(self, **kwargs: Any) -> None:
            made.update(kwargs)

    settings = Settings(kafka_bootstrap="127.0.0.1:1", database_url="sqlite:///x.sqlite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kafka_io, "KafkaProducer", _Producer)
        kafka_io.make_producer(settings)
    assert isinstance(made["partitioner"], KeyPartitioner)
