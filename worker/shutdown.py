"""Graceful stop: SIGTERM/SIGINT set a flag that the loop reads between batches.

Installed first thing in the console script, so that a stop during start-up also ends with
exit 0 once the worker has done what it owes, not with a signal death.
"""

from __future__ import annotations

import signal
import threading

requested = threading.Event()


def _handle(signum: int, _frame: object) -> None:
    requested.set()


def install() -> None:
    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
