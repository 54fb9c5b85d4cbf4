"""The outbox publisher in a process of its own (ADR 0015).

The checkpoint's step 2 (read the outbox, send it, await the acks, delete the rows) is the
same code as in-process (`publish_pending` over a `KafkaSink`), run by a child process with
its own database connection and its own producer. The worker's process asks and waits
for the answer exactly where it called the publish before, so the checkpoint order does
not change; what moves is the CPU: kafka-python's `send` costs ~60 µs of Python per record,
and in-process it held the GIL the apply and the consumer need.

What crosses the pipe is small: "publish" one way; the number published, what to count
in the metrics (`metrics.Published`) and, on failure, the error's kind and one line the
other way. A child that dies (or is killed) fails the publish as transient: the loop
retries, which starts a new child; the rows not acked are still in the outbox. The child
ignores SIGINT / SIGTERM (the worker's process decides when it stops and tells it) and ends
itself within half a second of the worker's process dying, whatever it is doing, so a
`kill -9` of the worker leaves nothing behind, as before. The first child is forked
before the worker has threads (its start-up then costs no imports), a later one spawned
(`_context`, ADR 0015's addendum). This module is the worker's side; the child's loop is
`serve` in worker/adapters/publisher_child.py.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection as PipeEnd  # a pipe, not a database
from typing import Any

from worker import logs, observability, shutdown
from worker.adapters.publisher_child import SERVE_IMPORTS, serve
from worker.errors import FatalError, TransientError
from worker.settings import Settings

log = logs.get("segsync.publisher")
START_TIMEOUT_S = 120.0  # the child imports the worker and connects: seconds, not minutes
STOP_WAIT_S = 15.0  # once a stop is requested: the child's own grace, then a margin


class ProcessPublisher:
    """`publish()`: the outbox published by the child, the number of rows returned; raises
    TransientError or FatalError as the in-process publish would. One call at a time (the
    loop's publish lock)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.start_method: str | None = None  # of the current child: "fork" or "spawn"
        self._proc: Any = None
        self._conn: PipeEnd | None = None
        # The stop request, one pipe per child. Not a multiprocessing Event: its set() waits
        # for every process sleeping on it to wake, and one that was killed or is stopped
        # (SIGSTOP) never does, so a stop would hang the worker (a test found it).
        self._stop: PipeEnd | None = None
        self._ready = False

    def start(self) -> None:
        """Start the child without waiting for it: forked when this process has no other
        thread yet (`segsync run` starts it first), else spawned (`_context`)."""
        mp = _context()
        ours, theirs = mp.Pipe()
        stop_theirs, stop_ours = mp.Pipe(duplex=False)
        # A forked child holds copies of this side's ends too: it closes them, or it would
        # never see this side close (a spawned child is handed only its own ends).
        method = mp.get_start_method()
        ours_fds = (ours.fileno(), stop_ours.fileno()) if method == "fork" else ()
        proc = mp.Process(
            target=serve,
            args=(self._settings, theirs, stop_theirs, os.getpid(), ours_fds),
            name="segsync-publisher",
            daemon=True,
        )
        proc.start()
        theirs.close()
        stop_theirs.close()
        self._proc, self._conn, self._stop, self._ready = proc, ours, stop_ours, False
        self.start_method = method
        if shutdown.requested.is_set():  # a child started during a stop knows at once
            self._send_stop()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else int(self._proc.pid)

    def publish(self) -> int:
        conn = self._running()
        try:
            conn.send("publish")
        except OSError as exc:
            self._lost()
            raise TransientError(f"publisher process gone: {exc}") from exc
        reply = self._answer(conn, None)
        for published in reply[-1]:
            observability.count_published(published)
        if reply[0] == "ok":
            return int(reply[1])
        raise _error(reply[1], reply[2])

    def close(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None or conn is None:
            return
        if not self._ready:  # asked nothing yet (start-up failed elsewhere): nothing to finish
            proc.kill()
        with contextlib.suppress(OSError):
            conn.send("close")
        proc.join(STOP_WAIT_S if shutdown.requested.is_set() else 60.0)
        if proc.is_alive():
            log.warning("publisher process did not stop: killed", pid=proc.pid)
            proc.kill()
            proc.join(5.0)
        conn.close()
        if self._stop is not None:
            self._stop.close()
            self._stop = None

    def _running(self) -> PipeEnd:
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                log.warning("publisher process ended: starting another", exitcode=self._exit())
                self._lost()
            self.start()
        assert self._conn is not None
        if not self._ready:
            reply = self._answer(self._conn, time.monotonic() + START_TIMEOUT_S)
            if reply[0] != "ready":
                self._lost()
                raise _error(reply[1], reply[2])
            self._ready = True
        return self._conn

    def _answer(self, conn: PipeEnd, deadline: float | None) -> tuple[Any, ...]:
        """The child's reply. A stop request is passed on (the child's sink then gives up
        after its grace) and bounds every wait from then on, not only the first (the last
        publish of a stop waits no longer than the one it interrupted); a child that dies
        or outlives its deadline fails the call."""
        stopping = False
        while True:
            try:
                if conn.poll(0.2):
                    reply: tuple[Any, ...] = conn.recv()
                    return reply
            except (EOFError, OSError) as exc:
                self._lost()
                raise TransientError(f"publisher process gone: {exc}") from exc
            if shutdown.requested.is_set() and not stopping:
                stopping = True
                self._send_stop()
                stop_by = time.monotonic() + STOP_WAIT_S
                deadline = stop_by if deadline is None else min(deadline, stop_by)
            if deadline is not None and time.monotonic() > deadline:
                self._lost()
                raise TransientError("publisher process did not answer in time")
            if self._proc is None or not self._proc.is_alive():
                exitcode = self._exit()
                self._lost()
                raise TransientError(f"publisher process ended (exit code {exitcode})")

    def _send_stop(self) -> None:
        """Tell the child once; a pipe write never waits for the reader (a few bytes)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            with contextlib.suppress(OSError):
                stop.send("stop")
            stop.close()  # the child reads the request, or the end of the pipe: a stop too

    def _exit(self) -> Any:
        return None if self._proc is None else self._proc.exitcode

    def _lost(self) -> None:
        proc, conn, stop = self._proc, self._conn, self._stop
        self._proc = self._conn = self._stop = None
        self._ready = False
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(5.0)
        if conn is not None:
            conn.close()
        if stop is not None:
            stop.close()


def _context() -> Any:
    """How the child starts. Forked while this process has one thread: nothing can hold a
    lock or be half-way through a write in the copy, and the child starts with the modules
    it needs, imported here first (spawned, it imported the whole stack again: ~0.8 s of
    CPU per start, measured, a third of a worker's start-up). With threads running (a child
    replaced later, a test process) it is spawned: a fork would copy the others' locks in
    whatever state they are in (ADR 0015)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        for module in SERVE_IMPORTS:  # so that the copy has them
            importlib.import_module(module)
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _error(kind: str, line: str) -> Exception:
    if kind == "transient":
        return TransientError(line)
    if kind == "fatal":
        return FatalError(line)
    return RuntimeError(line)
