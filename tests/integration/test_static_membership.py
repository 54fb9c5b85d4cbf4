"""Why the Helm chart runs a StatefulSet with SEGSYNC_INSTANCE_ID = the pod name
(docs/operations.md): with static membership a worker that comes back under the same name
takes its own partitions back and the other workers see no rebalance; one that comes back
under a new name (a Deployment's replacement pod) makes the group rebalance."""

from __future__ import annotations

import random
import signal
import subprocess
from pathlib import Path

from tests.integration.test_worker_e2e import TopicFactory, make_env, produce_events
from tests.support.histories import random_history
from tests.support.worker_logs import assignments
from tests.support.worker_proc import start, stop, wait_until


def test_same_name_rejoins_without_a_rebalance_a_new_name_does_not(
    kafka_bootstrap: str, topic_factory: TopicFactory, sqlite_url: str, tmp_path: Path
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, sqlite_url)
    w.input_topics = topic_factory("in4", 4)
    w.session_timeout_ms = 20_000  # room for a restart, as the chart gives (45 s there)
    every = {f"{w.input_topics}:{p}" for p in range(4)}
    rng = random.Random(5)
    produce_events(kafka_bootstrap, w.input_topics, random_history(rng, 200), rng)
    logs = {name: tmp_path / f"{name}.log" for name in ("w-0", "w-1", "w-1b", "pod-x")}
    procs: list[subprocess.Popen[bytes]] = []

    def run(name: str, instance_id: str) -> subprocess.Popen[bytes]:
        procs.append(start(w, instance_id=instance_id, log=logs[name]))
        return procs[-1]

    def held(name: str) -> set[str]:
        seen = assignments(logs[name]) if logs[name].exists() else []
        return seen[-1] if seen else set()

    try:
        run("w-0", "w-0")
        assert wait_until(lambda: held("w-0") == every, 60)
        w1 = run("w-1", "w-1")
        assert wait_until(lambda: held("w-1") != set() and held("w-0") != every, 60)
        mine, theirs = held("w-1"), held("w-0")
        assert mine | theirs == every and not mine & theirs
        seen_by_w0 = len(assignments(logs["w-0"]))

        # A StatefulSet pod restarts under its own name: same partitions, no rebalance.
        assert stop(w1) == 0
        run("w-1b", "w-1")
        assert wait_until(lambda: held("w-1b") != set(), 30), logs["w-1b"].read_text()[-2000:]
        assert held("w-1b") == mine
        assert len(assignments(logs["w-0"])) == seen_by_w0  # w-0 never stopped to rebalance

        # A Deployment's replacement pod has a new name: the group rebalances for it.
        run("pod-x", "segsync-7f9c-x2k4q")
        assert wait_until(lambda: len(assignments(logs["w-0"])) > seen_by_w0, 60)
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p, signal.SIGKILL)
