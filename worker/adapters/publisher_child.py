"""The publisher process's own side (ADR 0015): `serve`, the loop `ProcessPublisher`
(worker/adapters/publisher_process.py) runs in a child process, forked or spawned. It is
referenced by module path (a spawned child imports this module to find it), so it stays a
module-level function."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from multiprocessing.connection import Connection as PipeEnd  # a pipe, not a database
from typing import Any

from worker import logs, observability, shutdown
from worker.errors import FatalError, TransientError
from worker.observability.metrics import Published
from worker.ports import PendingRecord
from worker.settings import Settings

PARENT_CHECK_S = 0.5  # how soon the child notices the worker's process is gone
# What `serve` imports once started: the parent imports them before a fork, so that the
# copy has them (`publisher_process._context`).
SERVE_IMPORTS = (
    "kafka.errors",
    "worker.adapters.kafka_io",
    "worker.engine.publisher",
    "worker.store.factory",
)


def serve(
    settings: Settings, conn: PipeEnd, stop: PipeEnd, parent: int, ours_fds: tuple[int, ...] = ()
) -> None:
    """The child's loop: open the store and the producer, then one publish per request.
    `ours_fds`: the parent's ends of the pipes, inherited by a fork: closed first."""
    for fd in ours_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(settings.log_format, settings.log_level)
    logs.protect(settings)
    threading.Thread(target=_forward_stop, args=(stop,), daemon=True).start()

    from kafka.errors import KafkaError

    from worker.adapters.kafka_io import KafkaSink
    from worker.engine.publisher import publish_pending
    from worker.store.factory import open_store

    store = sink = None
    try:
        store = open_store(settings.sqlalchemy_url(), migrate=False)
        try:
            sink = KafkaSink(settings, count=False)
        except KafkaError as exc:  # a broker away for now: the loop's retry waits it out
            raise TransientError(f"cannot connect to Kafka: {exc}") from exc
    except Exception as exc:
        conn.send(("err", _kind(exc, store), _line(exc), []))
        _close(store, sink)
        return
    conn.send(("ready",))
    counting = _Counting(sink)
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:  # the worker's process is gone
                return
            if request != "publish":
                return
            counting.published = []
            try:
                n = publish_pending(store, counting)
            except Exception as exc:
                conn.send(("err", _kind(exc, store), _line(exc), counting.published))
            else:
                conn.send(("ok", n, counting.published))
    finally:
        _close(store, sink)


class _Counting:
    """The sink, and what each acked send adds to the metrics (counted by the parent)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.published: list[Published] = []

    def send_all(self, records: list[PendingRecord]) -> None:
        self.sink.send_all(records)
        self.published.append(observability.tally_published(records))


def _kind(exc: BaseException, store: Any) -> str:
    if isinstance(exc, TransientError) or (store is not None and store.is_transient(exc)):
        return "transient"
    return "fatal" if isinstance(exc, FatalError) else "error"


def _line(exc: BaseException) -> str:
    if isinstance(exc, (TransientError, FatalError)):
        return str(exc)[:2000]  # our own errors: their message says it all
    text = str(exc).splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:2000]


def _forward_stop(stop: PipeEnd) -> None:
    """The worker's stop request, or the end of its pipe (the worker's process closed it or
    is gone): either way, this child's sink gives up after its grace from now on."""
    with contextlib.suppress(EOFError, OSError):
        stop.recv()
    shutdown.requested.set()


def _die_with(parent: int) -> None:
    """End this process at once when the worker's process is gone (re-parented), even in
    the middle of a publish: what was not acked is still in the outbox. A watcher thread,
    not PR_SET_PDEATHSIG, which fires when the *thread* that started the child ends (a
    retry may start one from the loop's publisher thread)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _close(store: Any, sink: Any) -> None:
    with contextlib.suppress(Exception):
        if sink is not None:
            sink.close()
    with contextlib.suppress(Exception):
        if store is not None:
            store.close()
