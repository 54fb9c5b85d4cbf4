"""The publisher's lean send (worker/adapters/lean_send.py) puts on the broker the very
records `KafkaProducer.send` puts there, and leaves to `send` what it does not handle."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import IllegalStateError, MessageSizeTooLargeError

from tests.support.kafka_io import TopicFactory, consume_all
from worker.adapters.kafka_io import make_producer
from worker.adapters.lean_send import LeanSend
from worker.settings import Settings

pytestmark = pytest.mark.integration

Headers = list[tuple[str, bytes]]


def _producer(bootstrap: str) -> Any:
    return make_producer(Settings(kafka_bootstrap=bootstrap, database_url="sqlite:///x.sqlite"))


def _records() -> list[tuple[bytes, bytes, Headers, int | None]]:
    out: list[tuple[bytes, bytes, Headers, int | None]] = []
    for i in range(300):
        key = f"site-{i % 3}|course-{i % 17}|group-{i % 5}|user-{i}".encode()
        headers: Headers = [("content-type", b"application/cloudevents+json")][: i % 2]
        if i % 7 == 0:
            headers = [*headers, ("ce_type", b"lms.group.member.add"), ("empty", b"")]
        value = b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i % 50))
        # Commands take the producer's clock; a timestamp given is kept.
        out.append((key, value, headers, None if i % 3 else 1_700_000_000_000 + i))
    return out


def _counting(producer: Any, calls: list[tuple[str, Any]]) -> Any:
    """Has `producer.send` note each call's (topic, key); returns the original to put back."""
    original = producer.send

    def counting_send(topic: str, **kw: Any) -> Any:
        calls.append((topic, kw["key"]))
        return original(topic, **kw)

    producer.send = counting_send
    return original


def _seen(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes, Headers, int]]:
    got = consume_all(bootstrap, topic)
    return [(r.partition, r.key, r.value, list(r.headers), r.timestamp) for r in got]


def test_the_records_on_the_broker_are_those_send_puts_there(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    lean_topic = topic_factory("lean", partitions=6)
    plain_topic = topic_factory("plain", partitions=6)
    records = _records()

    producer = _producer(kafka_bootstrap)
    try:
        producer.partitions_for(lean_topic)  # its metadata loaded, as after a first send
        sent_by_send: list[tuple[str, Any]] = []
        original = _counting(producer, sent_by_send)
        lean = LeanSend(producer)
        assert lean.lean
        futures = [lean.send(lean_topic, k, v, h, ts) for k, v, h, ts in records]
        producer.flush(timeout=30)
        lean_meta = [f.get(timeout=30) for f in futures]
        producer.send = original
        assert sent_by_send == []  # every one of these took the lean path

        futures = [
            producer.send(plain_topic, key=k, value=v, headers=list(h), timestamp_ms=ts)
            for k, v, h, ts in records
        ]
        producer.flush(timeout=30)
        plain_meta = [f.get(timeout=30) for f in futures]
    finally:
        producer.close(timeout=10)

    # Each record in the same partition at the same offset: same placement, same order.
    assert [(m.partition, m.offset) for m in lean_meta] == [
        (m.partition, m.offset) for m in plain_meta
    ]
    assert len({m.partition for m in lean_meta}) == 6

    lean_seen = _seen(kafka_bootstrap, lean_topic)
    plain_seen = _seen(kafka_bootstrap, plain_topic)
    assert len(lean_seen) == len(plain_seen) == len(records)
    assert [r[:4] for r in lean_seen] == [r[:4] for r in plain_seen]
    given = {k: ts for k, _, _, ts in records if ts is not None}
    assert [ts for _, k, _, _, ts in lean_seen if k in given] == [
        given[k] for _, k, _, _, _ in lean_seen if k in given
    ]


def test_what_it_does_not_handle_goes_through_send_unchanged(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("fallback", partitions=3)
    unknown = topic_factory("not-loaded-yet", partitions=3)
    producer = _producer(kafka_bootstrap)
    calls: list[tuple[str, Any]] = []
    original = _counting(producer, calls)
    try:
        producer.partitions_for(topic)
        assert producer._metadata.partitions_for_topic(unknown) is None  # the case below
        lean = LeanSend(producer)
        # No key (keyless records take send's sticky partitioning); no metadata loaded for
        # the topic yet (send waits for it); a header value that is not bytes (send refuses it).
        lean.send(topic, None, b"keyless", [], None).get(timeout=30)
        lean.send(unknown, b"k", b"first of its topic", [], None).get(timeout=30)
        with pytest.raises(TypeError):
            lean.send(topic, b"k", b"v", [("h", None)], None)
        # Within reach of the request limit: send raises what the publisher handles.
        big = b"x" * (producer.config["max_request_size"] + 10)
        with pytest.raises(MessageSizeTooLargeError):
            lean.send(topic, b"k", big, [], None)
        n = len(calls)
        lean.send(topic, b"k", b"v", [("h", b"1")], None).get(timeout=30)  # the lean path
        assert len(calls) == n
        producer.close(timeout=10)  # closed: send's own error, not a record left behind
        with pytest.raises(IllegalStateError):
            lean.send(topic, b"k", b"after close", [], None)
    finally:
        producer.send = original
        producer.close(timeout=10)
    assert [c for c, _ in calls] == [topic, unknown, topic, topic, topic]
    values = sorted(r.value for r in consume_all(kafka_bootstrap, topic))
    assert values == [b"keyless", b"v"]


def test_a_producer_without_those_internals_is_sent_to_as_before() -> None:
    class Plain:
        config: dict[str, Any] = {}

        def __init__(self) -> None:
            self.sent: list[Any] = []

        def send(self, topic: str, **kw: Any) -> str:
            self.sent.append((topic, kw))
            return "future"

    plain = Plain()
    lean = LeanSend(plain)
    assert not lean.lean
    assert lean.send("t", b"k", b"v", (("h", b"1"),), 5) == "future"
    assert plain.sent == [
        ("t", {"key": b"k", "value": b"v", "headers": [("h", b"1")], "timestamp_ms": 5})
    ]
