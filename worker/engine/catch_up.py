"""`--until-caught-up`: whether every partition of the input topics is applied up to the end
offset it had at start-up, by this worker or by another member of its group."""

from __future__ import annotations

import contextlib
import time
from typing import Protocol

from worker import logs
from worker.ports import TP

WAITING_LOG_S = 10.0  # how often it says which partitions it waits for
log = logs.get("segsync.loop")


class Assigned(Protocol):
    @property
    def assigned(self) -> set[TP]: ...
    def position(self, tp: TP) -> int: ...


class CatchUp:
    def __init__(self, targets: dict[TP, int]) -> None:
        self.targets = targets  # the input's end offsets at start-up
        self._logged = 0.0

    def reached(self, source: Assigned, done: dict[TP, int]) -> bool:
        """`source`: a consumer that has joined its group; `done`: the group's applied
        offsets (the store holds every member's). A partition that a dead member still holds
        is waited for: the loop keeps polling, and the group hands it over once that
        member's session times out."""
        for tp in source.assigned:
            # Our own position also counts what the consumer skipped (transaction markers).
            with contextlib.suppress(Exception):
                done[tp] = max(done.get(tp, 0), source.position(tp))
        behind = sorted(tp for tp, end in self.targets.items() if done.get(tp, 0) < end)
        now = time.monotonic()
        if behind and now - self._logged >= WAITING_LOG_S:
            self._logged = now
            log.info(
                "waiting for partitions",
                mine=[f"{t}:{p}" for t, p in behind if (t, p) in source.assigned],
                elsewhere=[f"{t}:{p}" for t, p in behind if (t, p) not in source.assigned],
            )
        return not behind
