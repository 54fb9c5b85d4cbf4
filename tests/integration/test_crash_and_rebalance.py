"""Crashes (kill -9 at random moments) and consumer rebalances change nothing: after the
run, every pair alternates and agrees with the reference (contract guarantee 3)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.integration.test_worker_e2e import TopicFactory, commands, make_env, produce_events
from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.reference import check, desired
from tests.support.worker_proc import run_until_caught_up, start, stop


def crash_loop(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    db_url: str,
    log: Path,
    kills: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    # Many users per course/segment so that link events are bulk work (chunked backfills).
    history = random_history(
        rng, 150 * kills, sources=2, users=60, courses=3, segments=3, links=5, time_span=400
    )
    delivered = shuffled_with_duplicates(rng, history, 0.05)
    w.extra["SEGSYNC_BACKFILL_CHUNK"] = "7"  # many checkpoints: kills land mid-backfill
    slices = [delivered[i::kills] for i in range(kills)]
    done = 0
    proc = start(w, instance_id="crash-1", log=log)
    for part in slices:
        produce_events(kafka_bootstrap, w.input_topics, part, rng)
        time.sleep(rng.uniform(0.3, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done += 1
        proc = start(w, instance_id="crash-1", log=log)
    time.sleep(2)  # let the last one start: SIGTERM then means "finish and exit 0"
    assert stop(proc, signal.SIGTERM) == 0, log.read_text()[-3000:]
    run_until_caught_up(w, instance_id="crash-1")
    verdict = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    assert done == kills
    assert verdict.violations == []
    assert verdict.unique_commands > 20  # the history exercised the engine


def test_kill9_loop(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, pg_url, tmp_path / "worker.log", 22, seed=1)


def test_kill9_loop_sqlite(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, sqlite_url, tmp_path / "worker.log", 10, seed=2)


@pytest.mark.slow
def test_kill9_loop_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, pg_url, tmp_path / "worker.log", 200, seed=3)


def test_two_workers_with_rebalances(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    rng = random.Random(8)
    w = make_env(kafka_bootstrap, topic_factory, pg_url)
    w.input_topics = topic_factory("in4", 4)
    history = random_history(rng, 2400, sources=2, users=40, courses=3, segments=3, links=5)
    delivered = shuffled_with_duplicates(rng, history, 0.05)
    third = len(delivered) // 3
    log = tmp_path / "workers.log"
    produce_events(kafka_bootstrap, w.input_topics, delivered[:third], rng)
    a = start(w, instance_id="a", log=log)
    time.sleep(2)
    b = start(w, instance_id="b", log=log)  # joins: partitions move mid-stream
    produce_events(kafka_bootstrap, w.input_topics, delivered[third : 2 * third], rng)
    time.sleep(3)
    assert stop(a) == 0, log.read_text()[-3000:]  # leaves: its partitions move to b
    produce_events(kafka_bootstrap, w.input_topics, delivered[2 * third :], rng)
    time.sleep(2)
    assert stop(b) == 0, log.read_text()[-3000:]
    run_until_caught_up(w, instance_id="a")
    verdict = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    assert verdict.violations == []
    assert "partitions assigned" in log.read_text()
