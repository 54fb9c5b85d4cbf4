"""The loop's retry of transient failures: capped exponential backoff with jitter, never
skipping ahead; a stop request ends the waiting at once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from worker import logs, observability, shutdown
from worker.errors import FatalError, TransientError

R = TypeVar("R")
log = logs.get("segsync.loop")


def with_retries(
    what: str,
    fn: Callable[[], R],
    transient: Callable[[BaseException], bool],
    deadline_s: float,
) -> R:
    """`fn()`, again after a failure that is a TransientError or that `transient` accepts
    (the store's judgement: a lost connection, a serialization conflict), until `deadline_s`
    has passed: then FatalError. Once a stop is requested a failure is not retried:
    StopRequested."""
    deadline = time.monotonic() + deadline_s
    delay = 0.05
    while True:
        try:
            return fn()
        except Exception as exc:
            if not (isinstance(exc, TransientError) or transient(exc)):
                raise
            if shutdown.requested.is_set():
                raise shutdown.StopRequested(what) from exc
            if time.monotonic() + delay > deadline:
                raise FatalError(f"{what}: gave up after {deadline_s:g}s: {exc}") from exc
            log.warning("retrying", what=what, error=str(exc).splitlines()[0][:300])
            observability.retrying(what)
            # A stop signal ends the wait: an outage must not hold a stop for the deadline.
            if shutdown.requested.wait(delay * (0.5 + random.random())):
                raise shutdown.StopRequested(what) from exc
            delay = min(delay * 2, 5.0)
