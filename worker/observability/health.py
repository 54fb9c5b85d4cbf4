"""What /healthz and /readyz decide from: the loop's own marks and a store sampler.

Liveness (`/healthz`): the loop has progressed (finished an iteration, or a chunk of a big
recompute) within `liveness_timeout_s`, or it has no work pending (no batch in hand, no
known consumer lag, an empty outbox). A worker that is idle is alive; one that holds work
and has not moved for that long is wedged, and a restart is the cure.

Readiness (`/readyz`): started, connected to the broker (group coordinator known) and to
the database (the sampler's last query succeeded), an assignment received from the group,
not stopping, and the outbox not stuck (rows waiting and no successful publish for
`outbox_stuck_s`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.observability import metrics
from worker.ports import StateStore

Clock = Callable[[], float]


@dataclass
class LoopState:
    liveness_timeout_s: float = 300.0
    outbox_stuck_s: float = 60.0
    clock: Clock = time.monotonic
    started: bool = False
    stopping: bool = False
    joined: bool = False
    assigned: int = 0
    broker_ok: bool = False
    db_ok: bool = False
    db_checked_at: float | None = None
    in_batch: bool = False
    lag: int = 0
    outbox_backlog: int = 0
    last_progress: float = field(default=0.0)
    last_publish_ok: float = field(default=0.0)

    def __post_init__(self) -> None:
        now = self.clock()
        self.last_progress = self.last_progress or now
        self.last_publish_ok = self.last_publish_ok or now

    # --- marks from the loop ---
    def progress(self) -> None:
        self.last_progress = self.clock()

    def published(self) -> None:
        self.last_publish_ok = self.clock()

    # --- verdicts ---
    def pending_work(self) -> bool:
        return self.in_batch or self.lag > 0 or self.outbox_backlog > 0

    def live(self) -> tuple[bool, dict[str, Any]]:
        idle_s = self.clock() - self.last_progress
        ok = idle_s <= self.liveness_timeout_s or not self.pending_work()
        return ok, {
            "seconds_since_progress": round(idle_s, 3),
            "liveness_timeout_s": self.liveness_timeout_s,
            "work_pending": self.pending_work(),
        }

    def ready(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        stuck = self.outbox_backlog > 0 and now - self.last_publish_ok > self.outbox_stuck_s
        checks = {
            "started": self.started,
            "not_stopping": not self.stopping,
            "broker": self.broker_ok,
            "database": self.db_ok,
            "partitions_assigned": self.joined,
            "outbox_not_stuck": not stuck,
        }
        detail: dict[str, Any] = {
            "checks": checks,
            "assigned_partitions": self.assigned,
            "outbox_backlog": self.outbox_backlog,
            "consumer_lag": self.lag,
        }
        return all(checks.values()), detail


class StoreSampler:
    """Every `interval_s`, on its own thread: outbox backlog, held removals, and whether the
    database answers. Reads only, outside the loop's transactions (`StateStore.sample`)."""

    def __init__(self, store: StateStore, state: LoopState, interval_s: float = 2.0) -> None:
        self.store = store
        self.state = state
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segsync-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval_s)

    def sample_once(self) -> None:
        try:
            sample = self.store.sample()
        except Exception:
            self.state.db_ok = False
            return
        self.state.db_ok = True
        self.state.db_checked_at = self.state.clock()
        self.state.outbox_backlog = sample.outbox_backlog
        metrics.OUTBOX_BACKLOG.set(sample.outbox_backlog)
        if sample.held is not None:
            metrics.HELD_REMOVALS.set(sample.held)
