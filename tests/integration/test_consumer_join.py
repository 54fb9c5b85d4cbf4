"""A worker that joins its group is assigned its partitions once. kafka-python's group
leader keeps a snapshot of the subscribed topics' metadata, taken on metadata updates only,
and rejoins when a later update differs from the snapshot it assigned with. A subscription
made just after an update (the worker loads the topics' metadata before subscribing) left
that snapshot empty, so every start assigned the partitions twice: two rebalances, the
store's offsets read twice, 30-400 ms before the first batch (each run of `make bench` logged
two assignments)."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from tests.integration.test_worker_e2e import TopicFactory, make_env, produce_events
from tests.support.histories import random_history
from tests.support.worker_logs import assignments
from tests.support.worker_proc import start, stop, wait_until

SETTLE_S = 3.0  # the leader's next metadata update comes well within this


def test_each_start_assigns_the_partitions_once(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    w.input_topics = topic_factory("in6", 6)
    rng = random.Random(7)
    produce_events(kafka_bootstrap, w.input_topics, random_history(rng, 60), rng)
    every = {f"{w.input_topics}:{p}" for p in range(6)}
    seen = []
    # The first start makes the group; the later ones join it as it is, the usual restart.
    for n in range(3):
        log = tmp_path / f"run-{n}.log"
        proc = start(w, log=log)
        try:
            assert wait_until(lambda log=log: log.exists() and assignments(log) != [], 60), (
                log.read_text()[-2000:] if log.exists() else "no log"
            )
            time.sleep(SETTLE_S)
        finally:
            stop(proc, signal.SIGTERM)
        seen.append(assignments(log))
    assert seen == [[every]] * 3
