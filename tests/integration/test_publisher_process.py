"""The outbox publisher in a process of its own (ADR 0015), on the real broker and the real
PostgreSQL: what it sends, what the worker's process counts, its errors as the loop's
kinds, a child that dies, and a worker's process killed with -9 taking the child with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.proc import children_of
from tests.support.kafka_io import TopicFactory, consume_all
from tests.support.worker_proc import WorkerEnv, alive, fresh_env, start, stop, wait_until
from worker import destinations, shutdown
from worker.adapters import publisher_process
from worker.adapters.publisher_process import ProcessPublisher
from worker.errors import FatalError, TransientError
from worker.observability import metrics
from worker.ports import CommandMeta, OutboxRecord
from worker.settings import Settings, load_settings
from worker.store.factory import open_store
from worker.store.sql_base import SqlStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[WorkerEnv, Settings, SqlStore]]:
    w = fresh_env(kafka_bootstrap, topic_factory, pg_url, inputs=1, commands=1)
    for k in [k for k in os.environ if k.startswith("SEGSYNC_")]:
        monkeypatch.delenv(k)
    for k, v in w.env().items():
        if k.startswith("SEGSYNC_"):
            monkeypatch.setenv(k, v)
    store = open_store(pg_url)
    yield w, load_settings(), store
    store.close()


def command(i: int, destination: str = destinations.COMMAND) -> OutboxRecord:
    meta = CommandMeta("group_member.add", "link", 1_000_000)
    return OutboxRecord(destination, f"k{i}".encode(), f"v{i}".encode(), [], meta=meta)


def queue(store: SqlStore, records: list[OutboxRecord]) -> None:
    with store.transaction() as tx:
        tx.add_outbox(records)


def counted() -> float:
    return sum(
        s.value
        for m in metrics.COMMANDS.collect()
        for s in m.samples
        if s.name.endswith("_total") and s.labels.get("type") == "group_member.add"
    )


def test_the_child_publishes_the_outbox_and_the_parent_counts_it(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    w, settings, store = env
    queue(store, [command(i) for i in range(7)])
    publisher = ProcessPublisher(settings)
    before = counted()
    try:
        publisher.start()
        assert publisher.publish() == 7
        assert publisher.publish() == 0  # the rows were deleted after the acks
        queue(store, [command(i) for i in range(7, 10)])
        assert publisher.publish() == 3
    finally:
        publisher.close()
    got = consume_all(w.bootstrap, w.command_topic)
    assert sorted(r.value for r in got) == sorted(f"v{i}".encode() for i in range(10))
    assert store.pending(100) == []
    assert counted() - before == 10  # counted here, in the worker's process


def test_a_fatal_error_in_the_child_is_fatal_here(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    _, settings, store = env
    queue(store, [command(1, destination="from-a-newer-version")])
    publisher = ProcessPublisher(settings)
    try:
        with pytest.raises(FatalError, match=r"unknown destinations.*from-a-newer-version"):
            publisher.publish()
    finally:
        publisher.close()
    assert len(store.pending(100)) == 1  # nothing lost


def test_a_child_found_dead_is_replaced_and_nothing_is_lost(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    """Killed between two publishes: at most one publish fails, as transient (when the
    death is seen only through the pipe), and the next one starts another child and sends
    what the outbox holds; the loop's retry does exactly that."""
    w, settings, store = env
    publisher = ProcessPublisher(settings)
    try:
        assert publisher.publish() == 0
        first = publisher.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(first) and time.monotonic() < deadline:  # a zombie counts as dead
            time.sleep(0.05)
        queue(store, [command(1)])
        try:
            n = publisher.publish()
        except TransientError as exc:
            assert "publisher process" in str(exc)
            n = publisher.publish()
        assert n == 1
        assert publisher.pid not in (None, first)
    finally:
        publisher.close()
    assert [r.value for r in consume_all(w.bootstrap, w.command_topic)] == [b"v1"]


def test_a_child_started_by_a_thread_outlives_that_thread(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    """A retry may start the child from the loop's publisher thread, which ends before the
    worker does: the child is the process's, not that thread's."""
    _, settings, store = env
    publisher = ProcessPublisher(settings)
    try:
        starter = threading.Thread(target=publisher.publish)
        starter.start()
        starter.join(120)
        pid = publisher.pid
        assert pid is not None
        time.sleep(1.5)
        assert alive(pid)
        queue(store, [command(1)])
        assert publisher.publish() == 1
        assert publisher.pid == pid
    finally:
        publisher.close()


def test_close_ends_the_child(env: tuple[WorkerEnv, Settings, SqlStore]) -> None:
    _, settings, _ = env
    publisher = ProcessPublisher(settings)
    publisher.publish()
    pid = publisher.pid
    assert pid is not None and alive(pid)
    publisher.close()
    assert not alive(pid)


def test_kill_9_of_the_workers_process_takes_the_child_with_it(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    w, _, _ = env
    script = textwrap.dedent(
        """
        import sys, time
        from worker.adapters.publisher_process import ProcessPublisher
        from worker.settings import load_settings
        p = ProcessPublisher(load_settings())
        p.publish()
        print(p.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**w.env(), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the publisher process outlived the worker's process"
    finally:
        parent.kill()
        parent.wait(10)


def test_every_wait_after_a_stop_is_bounded(
    env: tuple[WorkerEnv, Settings, SqlStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop's bound holds for each publish asked after the stop, not only the first
    (run_cmd publishes once more after the loop ends): a child that hangs fails it as
    transient within the bound."""
    _, settings, store = env
    monkeypatch.setattr(publisher_process, "STOP_WAIT_S", 2.0)
    publisher = ProcessPublisher(settings)
    try:
        assert publisher.publish() == 0
        shutdown.requested.set()
        queue(store, [command(1)])
        assert publisher.publish() == 1  # the first publish of the stop, answered
        pid = publisher.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # hangs from now on
        started = time.monotonic()
        with pytest.raises(TransientError, match="did not answer in time"):
            publisher.publish()
        assert time.monotonic() - started < 10
    finally:
        shutdown.requested.clear()
        publisher.close()


def test_a_child_never_asked_is_killed_on_close_not_awaited(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    """`segsync run` starts the child before its own checks: one that fails (a wrong
    password, a missing topic) must not wait for the child's start-up to end."""
    _, settings, _ = env
    publisher = ProcessPublisher(settings)
    publisher.start()
    proc = publisher._proc
    publisher.close()
    assert proc is not None and proc.exitcode == -signal.SIGKILL


def _python(w: WorkerEnv, script: str, *args: str) -> list[str]:
    """What `script` prints, run by a Python process of its own (no thread but its main)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**w.env(), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


_STARTER = textwrap.dedent(
    """
    import sys, threading, time
    from worker.adapters.publisher_process import ProcessPublisher
    from worker.settings import load_settings
    if sys.argv[1] == "with-a-thread":
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    p = ProcessPublisher(load_settings())
    try:
        n = p.publish()
        print(p.start_method, n, flush=True)
    finally:
        p.close()
    """
)


@pytest.mark.parametrize(("threads", "method"), [("alone", "fork"), ("with-a-thread", "spawn")])
def test_the_child_is_forked_only_from_a_process_without_threads(
    env: tuple[WorkerEnv, Settings, SqlStore], threads: str, method: str
) -> None:
    """`segsync run` starts the child before any thread: a fork, which starts with the
    modules already imported instead of importing them again. A process with threads
    spawns it (a fork would copy their locks as they are). Either child publishes."""
    w, _, store = env
    queue(store, [command(i) for i in range(3)])
    assert _python(w, _STARTER, threads) == [method, "3"]
    assert [r.value for r in consume_all(w.bootstrap, w.command_topic)] == [b"v0", b"v1", b"v2"]


def test_segsync_run_forks_its_publisher(env: tuple[WorkerEnv, Settings, SqlStore]) -> None:
    """The start-up gain holds only while `segsync run` has no thread when it starts the
    child: a forked child runs the worker's own command line, a spawned one multiprocessing's
    (a thread started earlier, e.g. by a new import, would silently bring the cost back)."""
    w, _, _ = env
    proc = start(w)
    try:
        assert wait_until(lambda: bool(children_of(proc.pid)), 60), "no publisher process"
        child = children_of(proc.pid)[0]
        with open(f"/proc/{child}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
        assert b"run" in cmdline and not any(b"multiprocessing" in a for a in cmdline), cmdline
    finally:
        assert stop(proc) == 0


_DROPPER = textwrap.dedent(
    """
    from worker.adapters.publisher_process import ProcessPublisher
    from worker.settings import load_settings
    p = ProcessPublisher(load_settings())
    p.publish()
    proc = p._proc
    p._conn.close()  # this side's end goes away without a word
    proc.join(20)
    print(p.start_method, proc.exitcode, flush=True)
    if proc.exitcode is None:
        proc.kill()
    """
)


def test_a_forked_child_ends_when_the_workers_end_of_its_pipe_closes(
    env: tuple[WorkerEnv, Settings, SqlStore],
) -> None:
    """A fork copies the parent's ends of the pipes into the child; unless the child closes
    them it never reads the end of its request pipe, and waits for ever."""
    w, _, _ = env
    assert _python(w, _DROPPER) == ["fork", "0"]
