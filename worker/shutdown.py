"""Stop signals (SIGTERM, SIGINT), two ways.

`segsync run` is graceful: a signal sets `requested`, which the loop reads between batches and
every retry waits on (`requested.wait(delay)`), so a stop during an outage ends at once
instead of at the retry deadline; whatever is not published stays in the outbox.

Every other command is interruptible: `interruptible()` makes a signal raise `Interrupted`
in the main thread, ending a blocking call to a dead broker or database at once; the
command fails with one line and exit 130 (what it published before stays published, and
running it again is safe).

Installed first thing in the console script, so that a stop during start-up counts too.
"""

from __future__ import annotations

import signal
import threading
from typing import Final

requested = threading.Event()
received: int | None = None  # the signal, once one came
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class StopRequested(Exception):
    """The worker was asked to stop while it waited out an outage: it gives up on what it
    was retrying (nothing is lost: the outbox and the stored offsets keep what is owed)."""


class Interrupted(KeyboardInterrupt):
    """A stop signal during a command that is not the worker."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def _note(signum: int) -> None:
    global received
    received = signum
    requested.set()


def _graceful(signum: int, _frame: object) -> None:
    _note(signum)


def _interrupt(signum: int, _frame: object) -> None:
    _note(signum)
    raise Interrupted(signum)


def install() -> None:
    signal.signal(signal.SIGTERM, _graceful)
    signal.signal(signal.SIGINT, _graceful)


def interruptible() -> None:
    """From now on a stop signal raises Interrupted (and one that came already does now)."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if received is not None:
        raise Interrupted(received)
