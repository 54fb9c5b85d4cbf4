"""What the DLQ receives, through the real console script against the real broker: the
original record's key, value, headers (null values included) and timestamp; once per store;
records too big to dead-letter whole cut, never fatal (issue 12, items 1, 2, 10, 11, 12)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer

from tests.support.kafka_io import consume_all
from tests.support.kcat import produce_one
from tests.support.worker_proc import WorkerEnv, fresh_env, run_until_caught_up

TopicFactory = Callable[..., str]
T_MS = 1_700_000_000_000  # a record timestamp far from "now"


def make_env(kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str) -> WorkerEnv:
    return fresh_env(kafka_bootstrap, topic_factory, db_url, inputs=2, commands=1)


def produce_at(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, int, int]]) -> None:
    """(key, value, partition, timestamp_ms) each, in order, acks=all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [
            producer.send(topic, key=k, value=v, partition=p, timestamp_ms=ts)
            for k, v, p, ts in records
        ]
        producer.flush(timeout=30)
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(timeout=10)


def poison(i: int) -> bytes:
    return f"not json {i}".encode()


def good_event(i: int, **extra: Any) -> bytes:
    body = {
        "specversion": "1.0",
        "id": f"ok-{i}",
        "source": "site-a",
        "type": "lms.enrollment.created",
        "time": "2023-11-14T22:13:20Z",
        "data": {"user_id": f"u{i}", "course_id": "c1"},
        **extra,
    }
    return json.dumps(body).encode()


def test_dlq_copies_keep_the_record_timestamp(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    records = [(b"k", poison(i), i % 2, T_MS + i * 1000) for i in range(4)]
    records.append((b"k", good_event(9), 0, T_MS))
    produce_at(kafka_bootstrap, w.input_topics, records)
    run_until_caught_up(w)
    dlq = consume_all(kafka_bootstrap, w.dlq_topic)
    assert sorted((r.value, r.timestamp) for r in dlq) == sorted(
        (v, ts) for _, v, _, ts in records[:4]
    )


def test_a_replay_on_the_same_store_dead_letters_nothing_again(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    records = [(b"k", poison(i), i % 2, T_MS) for i in range(7)]
    records += [(b"k", good_event(i), i % 2, T_MS) for i in range(20)]
    produce_at(kafka_bootstrap, w.input_topics, records)
    run_until_caught_up(w)
    assert len(consume_all(kafka_bootstrap, w.dlq_topic)) == 7
    w.group_id += "-replay"  # a new group on the same store reads everything again
    run_until_caught_up(w)
    assert len(consume_all(kafka_bootstrap, w.dlq_topic)) == 7
    # A new record after the replay still goes to the DLQ, once.
    produce_at(kafka_bootstrap, w.input_topics, [(b"k", poison(99), 0, T_MS)])
    run_until_caught_up(w)
    dlq = consume_all(kafka_bootstrap, w.dlq_topic)
    assert sorted(r.value for r in dlq) == sorted([poison(i) for i in range(7)] + [poison(99)])


def test_a_null_header_value_reaches_the_dlq_named(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """kcat sends `-H name` (no `=`) as a header with a null value, as Kafka allows;
    kafka-python cannot send one, so the DLQ copy has it empty and says which it was."""
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    produce_one(
        kafka_bootstrap,
        w.input_topics,
        b"u1",
        b'{"x": 1}',
        [("ce_specversion", None), ("trace", b"t-1"), ("empty", b"")],
    )
    produce_at(kafka_bootstrap, w.input_topics, [(b"u1", good_event(1), 0, T_MS)])
    run_until_caught_up(w, timeout=60)
    (copy,) = consume_all(kafka_bootstrap, w.dlq_topic)
    assert copy.value == b'{"x": 1}'
    assert copy.headers[:3] == [("ce_specversion", b""), ("trace", b"t-1"), ("empty", b"")]
    h = dict(copy.headers)
    assert h["segsync_null_headers"] == b"0"
    assert h["segsync_error"] == b"missing specversion"
    assert len(consume_all(kafka_bootstrap, w.command_topic)) == 0


BIG = 8 * 1024 * 1024


def produce_big(bootstrap: str, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=BIG)
    try:
        producer.send(topic, key=b"k", value=value, headers=headers, partition=0).get(timeout=60)
    finally:
        producer.close(timeout=10)


def check_cut(copy: Any, value: bytes, limit: int) -> None:
    h = dict(copy.headers)
    assert h["segsync_truncated"] == str(len(value)).encode()
    assert 0 < len(copy.value) < len(value) and value.startswith(copy.value)
    assert copy.serialized_value_size + copy.serialized_header_size < limit
    assert h["segsync_source_offset"] == b"0" and h["segsync_error"]


def test_a_record_too_big_for_the_producer_is_cut_not_fatal(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """~1 MB of junk: fits the input topic, but not with the segsync_* headers added."""
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "5"
    junk = b"j" * (1_048_576 - 200)
    headers = [("x-trace", b"t" * 60)]
    produce_big(kafka_bootstrap, w.input_topics, junk, headers)
    produce_at(kafka_bootstrap, w.input_topics, [(b"u1", good_event(1), 0, T_MS)])
    run_until_caught_up(w, timeout=60)
    (copy,) = consume_all(kafka_bootstrap, w.dlq_topic)
    check_cut(copy, junk, 1_048_576)
    assert copy.headers[0] == ("x-trace", b"t" * 60)


def test_a_5mb_record_from_an_8mb_topic_is_cut_to_what_the_dlq_takes(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """The producer may send 8 MB (SEGSYNC_KAFKA_MAX_REQUEST_BYTES), the DLQ topic takes
    ~1 MB (the broker default): the broker's refusal cuts the value, it does not stop."""
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.input_topics = topic_factory("in", 1, configs={"max.message.bytes": str(BIG)})
    w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "5"
    w.extra["SEGSYNC_KAFKA_MAX_REQUEST_BYTES"] = str(BIG)
    value = b"v" * (5 * 1024 * 1024)
    produce_big(kafka_bootstrap, w.input_topics, value, [])
    produce_at(kafka_bootstrap, w.input_topics, [(b"u1", good_event(1), 0, T_MS)])
    run_until_caught_up(w, timeout=90)
    (copy,) = consume_all(kafka_bootstrap, w.dlq_topic)
    check_cut(copy, value, 1_048_588)
    assert len(consume_all(kafka_bootstrap, w.command_topic)) == 0  # no link: no command
