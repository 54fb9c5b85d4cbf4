"""A stop signal during an outage (issue 12, item 14), through the real console script.

The worker retries a lost database or broker until SEGSYNC_RETRY_DEADLINE_S; a SIGTERM or
SIGINT during those retries must end it at once with exit 0, owing nothing it cannot owe
(the outbox and the stored offsets keep it: the next run catches up). The other commands
stop at once on Ctrl-C or SIGTERM against a dead broker: one line, exit 130.

The database outage is a relay in front of the shared PostgreSQL, cut by the test; the
broker outage is a broker that is not there (a closed port, or one that never answers).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.histories import random_history, to_record
from tests.support.kafka_io import TopicFactory, consume_all, produce
from tests.support.reference import check, desired
from tests.support.tcp_proxy import TcpProxy
from tests.support.worker_proc import (
    SEGSYNC,
    WorkerEnv,
    run_until_caught_up,
    start,
    stop,
    wait_until,
)

DEADLINE = "300"  # far longer than any wait below: a prompt exit cannot be the deadline's


@pytest.fixture
def pg_relay(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        proxy.close()


def _log_has(log: Path, needle: str) -> bool:
    return log.exists() and needle in log.read_text(errors="replace")


def test_sigterm_during_a_database_outage_exits_0_at_once(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    pg_relay: tuple[str, TcpProxy],
    tmp_path: Path,
) -> None:
    url, relay = pg_relay
    w = WorkerEnv(
        bootstrap=kafka_bootstrap,
        database_url=url,
        input_topics=topic_factory("in", 2),
        command_topic=topic_factory("cmd", 1),
        dlq_topic=topic_factory("dlq", 1),
        enrollment_command_topic=topic_factory("enrol", 1),
        extra={"SEGSYNC_RETRY_DEADLINE_S": DEADLINE},
    )
    rng = random.Random(14)
    history = random_history(rng, 300)
    first, rest = history[:150], history[150:]
    produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in first])
    log = tmp_path / "worker.log"
    proc = start(w, log=log)
    try:
        assert wait_until(lambda: _log_has(log, '"batch applied"'), 60), log.read_text()
        relay.cut()
        # Records arrive while the database is away: the worker holds a batch it cannot apply.
        produce(kafka_bootstrap, w.input_topics, [to_record(e) for e in rest])
        assert wait_until(lambda: _log_has(log, '"retrying"'), 60), log.read_text()[-3000:]
        time.sleep(1)
        stopped = time.monotonic()
        code = stop(proc, signal.SIGTERM, timeout=30)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log.read_text()[-3000:]
    assert took < 10, took
    assert _log_has(log, "stopped while waiting out an outage")

    # Nothing was lost: with the database back, the next run owes and publishes the rest.
    relay.restore()
    run_until_caught_up(w)
    got = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic)]
    assert check(got, desired(history)).violations == []


def test_sigterm_while_the_broker_is_unreachable_at_start_up(sqlite_url: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    w = WorkerEnv(
        dead, sqlite_url, "in", "cmd", "dlq", "enrol", extra={"SEGSYNC_RETRY_DEADLINE_S": DEADLINE}
    )
    env = {**w.env(), "SEGSYNC_KAFKA_CONNECT_TIMEOUT_S": DEADLINE}
    proc = subprocess.Popen([SEGSYNC, "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert took < 5, took


class BlackHole:
    """A broker that accepts connections and never answers (as a paused one)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("broker", ["refused", "silent"])
@pytest.mark.parametrize("command", ["links", "import"])
def test_ops_commands_stop_at_once_against_a_dead_broker(
    tmp_path: Path, sqlite_url: str, sig: int, broker: str, command: str
) -> None:
    hole = BlackHole()
    if broker == "refused":
        address = hole.address
        hole.close()
    else:
        address = hole.address
    try:
        w = WorkerEnv(address, sqlite_url, "in", "cmd", "dlq", "enrol")
        if command == "links":
            f = tmp_path / "links.yaml"
            f.write_text("sources:\n  site:\n    - {id: l1, course: c1, segment: s1, group: g1}\n")
            args = ["links", "apply", str(f)]
        else:
            f = tmp_path / "enrolments.csv"
            f.write_text("user_id,course_id\nu1,c1\n")
            args = ["import", "--source", "site", "--enrolments", str(f)]
        proc = subprocess.Popen(
            [SEGSYNC, *args], env=w.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(3)  # well inside the connection attempts (29 s before the fix)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        stopped = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
    finally:
        hole.close()
    assert took < 3, took
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines == [f"segsync: interrupted by {signal.Signals(sig).name}"], err
