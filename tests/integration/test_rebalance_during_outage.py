"""A rebalance while the database is away (docs/FAULTS.md: the stall after a database outage
during a rebalance), through the real console script against the real broker.

The worker's own group gets a second member first: a plain consumer that joins and then
holds the next rebalance open (it does not poll). The worker starts, finishes its start-up
with the database there, and sends its JoinGroup, which waits for that member. Then the
database goes away (a relay in front of the shared PostgreSQL, cut or frozen as a paused
server), the other member polls and leaves: the worker is handed partitions, twice,
while it cannot read its stored offsets. Once the database is back it must own every
partition and catch up within a bounded time, every command as the reference says.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from tests.integration.test_crash_and_rebalance import _produce, _stored_offsets
from tests.integration.test_worker_e2e import commands, make_env
from tests.support.histories import random_history
from tests.support.kafka_io import TopicFactory
from tests.support.reference import check, desired
from tests.support.tcp_proxy import relayed
from tests.support.worker_logs import assignments
from tests.support.worker_proc import run_until_caught_up, start, stop, wait_until

OUTAGE_S = 10  # longer than the session timeout (6 s): a blocked heartbeat would cost the member
CATCH_UP_S = 45  # the bound after the database is back


def _member(bootstrap: str, group: str, topic: str) -> KafkaConsumer:
    """A member of the worker's group that joins now and owns partitions of `topic`."""
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="segsync-tests-member",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        max_poll_interval_ms=60_000,
    )
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    while not c.assignment():
        assert time.monotonic() < deadline, "the other member got no partitions"
        c.poll(timeout_ms=200)
    return c


def _members(admin: Any, group: str) -> list[str]:
    described = admin.describe_groups([group])[group]
    return sorted(str(m["client_id"]) for m in described.get("members") or [])


@pytest.mark.parametrize("outage", ["cut", "frozen"])
def test_assignment_while_the_database_is_away(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_admin: Any,
    pg_url: str,
    tmp_path: Path,
    outage: str,
) -> None:
    rng = random.Random(5)
    history = random_history(rng, 800, sources=2, users=30, courses=3, segments=3, links=5)
    with relayed(pg_url) as (url, relay):
        w = make_env(kafka_bootstrap, topic_factory, url)
        w.input_topics = topic_factory("in4", 4)
        w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "300"  # the outage never ends the worker
        w.extra["SEGSYNC_POLL_TIMEOUT_MS"] = "5000"
        every = {f"{w.input_topics}:{p}" for p in range(4)}
        away: Callable[[], None] = relay.cut if outage == "cut" else relay.freeze
        back: Callable[[], None] = relay.restore if outage == "cut" else relay.thaw
        # A first run stores offsets (a dynamic member: it leaves the group on exit), so
        # that the assignment during the outage has offsets to resume from.
        _produce(kafka_bootstrap, w, history[:300], rng)
        run_until_caught_up(w)
        ends = _produce(kafka_bootstrap, w, history[300:500], rng)
        other = _member(kafka_bootstrap, w.group_id, w.input_topics)
        log = tmp_path / "worker.log"
        proc = start(w, instance_id="a", log=log)
        try:

            def joining() -> bool:
                group = kafka_admin.describe_groups([w.group_id])[w.group_id]
                return bool(group.get("group_state") == "PreparingRebalance")

            # Its JoinGroup waits for the other member: start-up is done (store opened,
            # outbox published), the assignment is yet to come.
            assert wait_until(joining, 60), log.read_text()[-3000:]
            # Right after an idle round's publish, the worker is back in its (long) poll.
            seen = relay.relayed
            assert wait_until(lambda: relay.relayed != seen, 30, step=0.01)
            time.sleep(0.5)
            away()
            other.poll(timeout_ms=3000)  # rejoins: the group hands the worker partitions
            other.close()  # leaves: a second rebalance, the database still away
            time.sleep(OUTAGE_S)
            # Waiting for its database must not cost the worker its membership: its
            # heartbeats go on (a listener blocked on the database stopped them, the
            # session expired and the whole group rebalanced once more).
            assert _members(kafka_admin, w.group_id) == ["segsync-a"], log.read_text()[-3000:]
            back()
            ends.update(_produce(kafka_bootstrap, w, history[500:], rng))

            def caught_up() -> bool:
                got = assignments(log)
                return bool(got) and got[-1] == every and _stored_offsets(w) == ends

            assert wait_until(caught_up, CATCH_UP_S), log.read_text()[-4000:]
            assert stop(proc) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                stop(proc, signal.SIGKILL)
    verdict = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    assert verdict.violations == []
    assert verdict.unique_commands > 20


def test_assigned_partitions_resume_at_the_stored_offsets_not_kafkas(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """Kafka's committed offsets are for lag tools only: here they are moved ahead of the
    store's, into the middle of unread records. The poll that brings the assignment may
    already return records read from there (the seek to the store's offsets comes after
    kafka-python's own poll): none of them may be applied; reading starts at the store's."""
    rng = random.Random(9)
    history = random_history(rng, 600, sources=2, users=20, courses=3, segments=3, links=5)
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    _produce(kafka_bootstrap, w, history[:300], rng)
    run_until_caught_up(w)
    stored = _stored_offsets(w)
    ends = _produce(kafka_bootstrap, w, history[300:], rng)
    ahead = {tp: (stored[tp] + end) // 2 for tp, end in ends.items()}
    assert all(stored[tp] < ahead[tp] < ends[tp] for tp in ends), (stored, ends)
    mover = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=w.group_id, enable_auto_commit=False
    )
    try:
        mover.commit(
            {TopicPartition(*_tp(tp)): OffsetAndMetadata(off, "", -1) for tp, off in ahead.items()}
        )
    finally:
        mover.close()

    proc = run_until_caught_up(w)
    lines = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{")]
    resumed = [ln for ln in lines if ln.get("event") == "partitions assigned"]
    assert resumed and resumed[0]["resume"] == stored
    first = next(ln for ln in lines if ln.get("event") == "batch applied")
    assert first["offset"] == stored[f"{first['topic']}:{first['partition']}"], first
    assert _stored_offsets(w) == ends
    verdict = check(commands(kafka_bootstrap, w.command_topic), desired(history))
    assert verdict.violations == []


def _tp(name: str) -> tuple[str, int]:
    topic, part = name.rsplit(":", 1)
    return topic, int(part)
