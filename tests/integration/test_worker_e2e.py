"""The worker end to end: real broker, real store, the real console script as a subprocess.

Histories are produced to a multi-partition topic (keyed as the LMS keys them, both content
modes, shuffled, with duplicates); the command topic is then read back and checked against
the independent reference: alternation per pair and final agreement with desired().
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from tests.support.histories import random_history, shuffled_with_duplicates, to_record
from tests.support.kafka_io import consume_all, produce
from tests.support.reference import Ev, check, desired
from tests.support.subjects import segment
from tests.support.worker_proc import WorkerEnv, fresh_env, run_until_caught_up

TopicFactory = Callable[..., str]


def make_env(kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str) -> WorkerEnv:
    return fresh_env(kafka_bootstrap, topic_factory, db_url)


def produce_events(bootstrap: str, topic: str, events: list[Ev], rng: random.Random) -> None:
    produce(bootstrap, topic, [to_record(e, binary=rng.random() < 0.3) for e in events])


def commands(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in consume_all(bootstrap, topic)]


def test_history_through_kafka(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    rng = random.Random(2024)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    history = random_history(rng, 800, sources=3, users=12, courses=3, segments=4, links=6)
    produce_events(
        kafka_bootstrap, w.input_topics, shuffled_with_duplicates(rng, history, 0.1), rng
    )
    proc = run_until_caught_up(w)
    got = commands(kafka_bootstrap, w.command_topic)
    verdict = check(got, desired(history))
    assert verdict.violations == []
    assert verdict.unique_commands > 20  # the history really exercised the engine
    for c in got:  # keyed by user_id, structured mode, subject as the contract says
        d = c["data"]
        ids = (d["course_id"], d["group_id"], d["user_id"])
        assert c["subject"] == "course/{}/group/{}/user/{}".format(*map(segment, ids))
    assert consume_all(kafka_bootstrap, w.dlq_topic) == []
    # The run's cycle collector was set for batches before the first poll (worker/gc_policy.py).
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("{")]
    said = [json.loads(ln) for ln in lines if '"consuming"' in ln]
    assert [e["gc_thresholds"] for e in said] == [[50_000, 20, 100]]


def test_replays_emit_nothing_new(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    rng = random.Random(99)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    history = random_history(rng, 400)
    produce_events(kafka_bootstrap, w.input_topics, history, rng)
    run_until_caught_up(w)
    first = commands(kafka_bootstrap, w.command_topic)
    # 1. the same group again: nothing to do
    run_until_caught_up(w)
    # 2. a new group id reads the topic from the start: every event is a duplicate
    w.group_id = "segsync-replay"
    run_until_caught_up(w)
    # 3. the producer replays the whole history onto the topic, reordered
    produce_events(kafka_bootstrap, w.input_topics, shuffled_with_duplicates(rng, history, 0), rng)
    run_until_caught_up(w)
    again = commands(kafka_bootstrap, w.command_topic)
    assert sorted(json.dumps(c, sort_keys=True) for c in again) == sorted(
        json.dumps(c, sort_keys=True) for c in first
    )
    assert check(again, desired(history)).violations == []


def test_poison_messages_go_to_dlq_and_the_rest_is_processed(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    rng = random.Random(5)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    history = random_history(rng, 200)
    good = [to_record(e) for e in history]
    ok_envelope = {
        "specversion": "1.0",
        "id": "x",
        "source": "site-0",
        "time": "2024-01-01T00:00:00Z",
    }
    poison: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = [
        (b"u1", b"not json at all", []),
        (b"u1", b"[1, 2, 3]", []),
        (b"u1", json.dumps({"id": "a", "source": "s", "type": "lms.course.deleted"}).encode(), []),
        (
            b"u1",
            json.dumps(
                {**ok_envelope, "type": "lms.enrollment.created", "data": {"user_id": "u"}}
            ).encode(),
            [],
        ),
        (
            b"u1",
            json.dumps(
                {
                    **ok_envelope,
                    "id": "i" * 300,
                    "type": "lms.course.deleted",
                    "data": {"course_id": "c"},
                }
            ).encode(),
            [],
        ),
        (
            b"u1",
            json.dumps(
                {
                    **ok_envelope,
                    "time": "yesterday",
                    "type": "lms.course.deleted",
                    "data": {"course_id": "c"},
                }
            ).encode(),
            [],
        ),
    ]
    unknown: tuple[bytes, bytes, list[tuple[str, bytes]]] = (
        b"u1",
        json.dumps({**ok_envelope, "id": "unk", "type": "lms.badge.awarded", "data": {}}).encode(),
        [],
    )
    mixed = good[:100] + poison + [unknown] + good[100:]
    produce(kafka_bootstrap, w.input_topics, mixed, partition=0)
    run_until_caught_up(w)
    dlq = consume_all(kafka_bootstrap, w.dlq_topic)
    assert [r.value for r in dlq] == [p[1] for p in poison]
    for r in dlq:
        h = dict(r.headers)
        assert h["segsync_error"]
        assert h["segsync_source_topic"] == w.input_topics.encode()
        assert h["segsync_source_partition"] == b"0"
        assert int(h["segsync_source_offset"]) >= 100
    assert check(commands(kafka_bootstrap, w.command_topic), desired(history)).violations == []
