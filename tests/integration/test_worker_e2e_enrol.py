"""Both kinds through the real `segsync` console script and the real broker, on SQLite and
PostgreSQL: histories mixing enrolment methods, group links and segment enrol links give
group commands that follow desired() and enrolment commands that follow desired_enrol();
a replay adds nothing, and kill -9 at random moments changes nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

from tests.integration.test_worker_e2e import TopicFactory, commands, produce_events
from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.kafka_io import consume_all
from tests.support.reference import check, check_enrol, desired, desired_enrol
from tests.support.subjects import segment
from tests.support.worker_proc import WorkerEnv, fresh_env, run_until_caught_up, start, stop


def make_env(kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str) -> WorkerEnv:
    return fresh_env(kafka_bootstrap, topic_factory, db_url)


def test_both_kinds_through_kafka(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    rng = random.Random(715)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    history = random_history(
        rng, 700, sources=2, users=12, courses=3, segments=4, links=6, enrol=True
    )
    produce_events(
        kafka_bootstrap, w.input_topics, shuffled_with_duplicates(rng, history, 0.1), rng
    )
    run_until_caught_up(w)
    groups = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    records = consume_all(kafka_bootstrap, w.enrollment_command_topic)
    enrols = [json.loads(r.value) for r in records]
    verdict = check_enrol(enrols, desired_enrol(history))
    assert (groups.violations, verdict.violations) == ([], [])
    assert verdict.unique_commands > 10 and groups.unique_commands > 20  # both really ran
    for r, c in zip(records, enrols, strict=True):  # keyed by user, subject as the contract says
        d = c["data"]
        assert r.key == d["user_id"].encode()
        assert c["subject"] == f"course/{segment(d['course_id'])}/user/{segment(d['user_id'])}"
        assert (d["component"], d["method"]) == ("segsync", "segment_sync")
    assert consume_all(kafka_bootstrap, w.dlq_topic) == []
    # A new group on the same store reads everything again: nothing new on either topic.
    w.group_id = "segsync-replay"
    run_until_caught_up(w)
    assert len(consume_all(kafka_bootstrap, w.enrollment_command_topic)) == len(records)
    assert check(commands(kafka_bootstrap, w.command_topic), desired(history)).violations == []


def test_kill9_loop_with_both_kinds(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(99)
    kills = 6
    log = tmp_path / "worker.log"
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    history = random_history(
        rng, 120 * kills, sources=2, users=50, courses=3, segments=3, links=5, time_span=300,
        enrol=True,
    )  # fmt: skip
    w.extra["SEGSYNC_BACKFILL_CHUNK"] = "7"  # many checkpoints: kills land mid-backfill
    delivered = shuffled_with_duplicates(rng, history, 0.05)
    proc = start(w, instance_id="crash-enrol", log=log)
    for part in (delivered[i::kills] for i in range(kills)):
        produce_events(kafka_bootstrap, w.input_topics, part, rng)
        time.sleep(rng.uniform(0.3, 2.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = start(w, instance_id="crash-enrol", log=log)
    time.sleep(2)
    assert stop(proc, signal.SIGTERM) == 0, log.read_text()[-3000:]
    run_until_caught_up(w, instance_id="crash-enrol")
    groups = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    enrols = check_enrol(
        commands(kafka_bootstrap, w.enrollment_command_topic), desired_enrol(history)
    )
    assert (groups.violations, enrols.violations) == ([], [])
    assert enrols.unique_commands > 20
