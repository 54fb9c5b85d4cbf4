"""Crashes (kill -9 at random moments) and consumer rebalances change nothing: after the
run, every pair alternates and agrees with the reference (contract guarantee 3)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.integration.test_worker_e2e import TopicFactory, commands, make_env, produce_events
from tests.support.histories import random_history, shuffled_with_duplicates, to_record
from tests.support.kafka_io import produce
from tests.support.reference import check, desired
from tests.support.worker_logs import assignments, log_lines
from tests.support.worker_proc import WorkerEnv, run_until_caught_up, start, stop, wait_until


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
    want = desired(history)
    # A guard on the history itself (seeds are chosen so that it holds): a thin history,
    # with few pairs desired at the end, would prove little.
    assert len(want) >= 20, f"seed {seed} gives a thin history: {len(want)} pairs"
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
    verdict = check(commands(kafka_bootstrap, w.command_topic), want)
    assert done == kills
    assert verdict.violations == []
    assert verdict.unique_commands >= len(want)  # at least one add per desired pair


def test_kill9_loop(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, pg_url, tmp_path / "worker.log", 22, seed=1)


def test_kill9_loop_sqlite(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, sqlite_url, tmp_path / "worker.log", 10, seed=7)


@pytest.mark.slow
def test_kill9_loop_long(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    crash_loop(kafka_bootstrap, topic_factory, pg_url, tmp_path / "worker.log", 200, seed=4)


def _stored_offsets(w: WorkerEnv) -> dict[str, int]:
    engine = create_engine(w.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT topic, partition, next_offset FROM input_offset WHERE group_id = :g"),
                {"g": w.group_id},
            )
            return {f"{r[0]}:{r[1]}": int(r[2]) for r in rows}
    except ProgrammingError:  # the worker has not created its tables yet
        return {}
    finally:
        engine.dispose()


def _produce(bootstrap: str, w: WorkerEnv, events: list[Any], rng: random.Random) -> dict[str, int]:
    """Produce and return each partition's end offset (next offset) after it."""
    metas = produce(bootstrap, w.input_topics, [to_record(e, rng.random() < 0.3) for e in events])
    ends: dict[str, int] = {}
    for m in metas:
        key = f"{m.topic}:{m.partition}"
        ends[key] = max(ends.get(key, 0), m.offset + 1)
    return ends


def test_two_workers_with_rebalances(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    """Partitions really move mid-stream: worker a holds all four, b joins and the two split
    them (each applies batches of its own), a leaves with events of its partitions still
    unread, and b takes those partitions over from the offsets a stored and reads them to
    the end. The commands still agree with the reference."""
    rng = random.Random(8)
    w = make_env(kafka_bootstrap, topic_factory, pg_url)
    w.input_topics = topic_factory("in4", 4)
    every = {f"{w.input_topics}:{p}" for p in range(4)}
    history = random_history(rng, 2400, sources=2, users=40, courses=3, segments=3, links=5)
    delivered = shuffled_with_duplicates(rng, history, 0.05)
    third = len(delivered) // 3
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    ends = _produce(kafka_bootstrap, w, delivered[:third], rng)
    a = start(w, instance_id="a", log=log_a)
    b = None
    try:
        assert wait_until(lambda: _stored_offsets(w) == ends, 60), log_a.read_text()[-3000:]
        assert assignments(log_a)[-1] == every  # a alone: all four partitions

        b = start(w, instance_id="b", log=log_b)  # joins: the group splits the partitions
        assert wait_until(
            lambda: bool(assignments(log_b)) and assignments(log_b)[-1] != set(), 60
        ), log_b.read_text()[-3000:]
        assert wait_until(lambda: assignments(log_a)[-1] != every, 30)
        held_a, held_b = assignments(log_a)[-1], assignments(log_b)[-1]
        assert held_a and held_b and held_a | held_b == every and not held_a & held_b
        batches_b = len(log_lines(log_b, "batch applied"))
        ends.update(_produce(kafka_bootstrap, w, delivered[third : 2 * third], rng))
        assert wait_until(lambda: _stored_offsets(w) == ends, 60)
        assert len(log_lines(log_b, "batch applied")) > batches_b  # b consumed its share

        assert stop(a) == 0, log_a.read_text()[-3000:]  # leaves with its partitions ...
        left_at = _stored_offsets(w)
        ends.update(_produce(kafka_bootstrap, w, delivered[2 * third :], rng))
        unread = {tp for tp in held_a if ends[tp] > left_at[tp] > 0}
        assert unread, (left_at, ends)  # ... events of them still to read, from mid-stream
        # b takes them over (after the session timeout: a is a static member) ...
        assert wait_until(lambda: assignments(log_b)[-1] == every, 60), log_b.read_text()[-3000:]
        takeover = log_lines(log_b, "partitions assigned")[-1]
        # ... resuming exactly where a stopped, and reads them to the end.
        assert {tp: takeover["resume"][tp] for tp in held_a} == {tp: left_at[tp] for tp in held_a}
        assert wait_until(lambda: _stored_offsets(w) == ends, 60)
        assert stop(b) == 0, log_b.read_text()[-3000:]
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                stop(proc, signal.SIGKILL)
    verdict = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    assert verdict.violations == []
    assert verdict.unique_commands > 20
