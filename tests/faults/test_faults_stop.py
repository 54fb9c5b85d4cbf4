"""A SIGTERM while the broker is paused, on PostgreSQL: the worker is catching up in small
batches, so what it waits on when the signal comes is the publisher process's acks
(ADR 0015) or its own fetch, whichever the pause caught. Either way it must end with
exit 0 within the stop's bound, leave no publisher process behind, and owe nothing it
cannot owe: with the broker back, the next run publishes the rest.

The broker is the fault suite's own (tests/faults/conftest.py), never the shared one."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from tests.support.faults_services import FaultKafka
from tests.support.histories import random_history, to_record
from tests.support.kafka_io import TopicFactory, consume_all, produce
from tests.support.reference import check, desired
from tests.support.worker_proc import (
    alive,
    fresh_env,
    run_until_caught_up,
    start,
    stop,
    wait_until,
)

STOP_BOUND_S = 45  # the sink's grace and the publisher's 15 s, with a margin for a slow box


def _children(pid: int) -> list[int]:
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def test_sigterm_during_a_broker_pause_exits_0_and_loses_nothing(
    fault_kafka: FaultKafka, fault_topics: TopicFactory, pg_url: str, tmp_path: Path
) -> None:
    w = fresh_env(fault_kafka.bootstrap, fault_topics, pg_url, inputs=2, commands=1)
    w.extra.update(SEGSYNC_RETRY_DEADLINE_S="300", SEGSYNC_BATCH_MAX_RECORDS="20")
    history = random_history(random.Random(16), 3000)
    produce(w.bootstrap, w.input_topics, [to_record(e) for e in history])
    log = tmp_path / "worker.log"
    proc = start(w, log=log)
    children: list[int] = []
    try:
        assert wait_until(lambda: log.exists() and '"batch applied"' in log.read_text(), 90), (
            log.read_text()[-3000:] if log.exists() else "no log"
        )
        children = _children(proc.pid)  # the publisher process (and multiprocessing's tracker)
        assert children, "no publisher process on PostgreSQL"
        fault_kafka._stop([fault_kafka.pid()])  # paused from here, mid catch-up
        time.sleep(3)
        stopped = time.monotonic()
        code = stop(proc, signal.SIGTERM, timeout=120)
        took = time.monotonic() - stopped
    finally:
        fault_kafka.resume()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert took < STOP_BOUND_S, (took, text[-3000:])
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if alive(c)], "a child outlived the worker"

    # Nothing was lost: the next run owes and publishes the rest.
    run_until_caught_up(w)
    got = [json.loads(r.value) for r in consume_all(w.bootstrap, w.command_topic)]
    assert check(got, desired(history)).violations == []
