"""`segsync plan`: the commands a fresh worker would emit, checked against a real one."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.ops.conftest import Ops, make_ops
from tests.support.histories import random_history, shuffled_with_duplicates, to_record
from tests.support.kafka_io import consume_all, produce
from tests.support.reference import check, desired
from tests.support.scenario_kit import Lms

TopicFactory = Callable[..., str]


def test_plan_equals_what_a_fresh_worker_emits(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path
) -> None:
    # One input and one command partition: the worker's batches, and so its exact commands
    # (ids, causes, link ids), are then a function of the topic alone.
    ops = make_ops(kafka_bootstrap, topic_factory, sqlite_url, tmp_path, 1, 1)
    ops.w.extra["SEGSYNC_BATCH_MAX_RECORDS"] = "40"
    rng = random.Random(5)
    history = random_history(rng, 500, sources=2, users=10, courses=3, segments=4, links=6)
    delivered = shuffled_with_duplicates(rng, history, 0.1)
    records = [to_record(e, binary=rng.random() < 0.3) for e in delivered]
    records.insert(100, (b"k", b"not json", []))  # for the DLQ
    produce(kafka_bootstrap, ops.w.input_topics, records)

    proc = ops.segsync("plan")
    planned = proc.stdout.encode().splitlines()
    assert "plan: " in proc.stderr and f"{len(records)} records" in proc.stderr
    assert "1 for the DLQ" in proc.stderr
    # Nothing published, no consumer group touched.
    assert consume_all(kafka_bootstrap, ops.w.command_topic) == []
    assert consume_all(kafka_bootstrap, ops.w.dlq_topic) == []
    assert ops.committed(ops.w.group_id) == {0: None}

    ops.worker()
    emitted = [r.value for r in consume_all(kafka_bootstrap, ops.w.command_topic)]
    assert len(planned) > 30
    assert planned == emitted  # byte for byte, in order
    assert check([json.loads(v) for v in planned], desired(history)).violations == []

    # Planning again, after the worker, still shows what a fresh worker would emit.
    assert ops.segsync("plan").stdout.encode().splitlines() == planned


def test_plan_over_partitions_agrees_with_the_worker(ops: Ops) -> None:
    rng = random.Random(11)
    history = random_history(rng, 600, sources=3, users=12, courses=3, segments=4, links=6)
    ops.produce(shuffled_with_duplicates(rng, history, 0.1))
    planned = [json.loads(line) for line in ops.segsync("plan").stdout.splitlines()]
    ops.worker()
    emitted = ops.commands()
    want = desired(history)
    plan_verdict, worker_verdict = check(planned, want), check(emitted, want)
    assert plan_verdict.violations == [] and worker_verdict.violations == []
    assert plan_verdict.final == worker_verdict.final == want
    assert len(planned) == len(emitted)


def test_plan_since(ops: Ops) -> None:
    lms = Lms("site-a")
    old = [lms.link("L1", "c1", "S1", "g1", 0), lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 2)]
    ops.produce(old)
    time.sleep(1.5)
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(1.5)
    new = [lms.link("L2", "c1", "S1", "g2", 3), lms.enrol("u2", "c1", 4), lms.join("u2", "S1", 5)]
    ops.produce(new)

    full = [json.loads(line)["subject"] for line in ops.segsync("plan").stdout.splitlines()]
    assert sorted(full) == [
        "course/c1/group/g1/user/u1",
        "course/c1/group/g1/user/u2",
        "course/c1/group/g2/user/u1",
        "course/c1/group/g2/user/u2",
    ]
    proc = ops.segsync("plan", "--since", since)
    assert [json.loads(line)["subject"] for line in proc.stdout.splitlines()] == [
        "course/c1/group/g2/user/u2"
    ]
    assert "plan: 3 records" in proc.stderr
    future = ops.segsync("plan", "--since", "2999-01-01T00:00:00Z")
    assert future.stdout == "" and "plan: 0 records" in future.stderr
    assert "--since" in ops.segsync("plan", "--since", "last week", rc=2).stderr
    assert "Example: segsync plan" in ops.segsync("plan", "--help").stdout
