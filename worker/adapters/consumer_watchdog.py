"""A consumer that has stopped being a member of its group, and does not come back.

Seen under load and after outages (docs/FAULTS.md): kafka-python 3.0.12's consumer alive,
polling, its heartbeat overdue, the broker's group empty, and no rejoin for as long as it
was watched. The cause inside the client is not found yet. The worker's state lives in the
store, so a new consumer loses nothing: it joins, is assigned, and resumes every partition
at the store's offsets. This module decides when; `KafkaInput` does it.

When: no healthy membership (a stable group and a heartbeat answered within the session
timeout) for longer than a rebalance may legitimately take. The broker ends a rebalance
after the rebalance timeout (our `max_poll_interval_ms`) whatever the other members do, and
a session expires after `session_timeout_ms`; past their sum, waiting longer cannot help.

One cause is known (seen in CI, docs/FAULTS.md): a join that completes while no poll awaits
it. kafka-python sets `state=REBALANCING` when it sends JoinGroup and STABLE only in the
poll that awaits the answer; a poll that times out leaves the join in flight, and if by the
next poll nothing asks for a rejoin any more, nobody awaits it: the client stays
"rebalancing" with no rejoin pending and its heartbeats off, and the broker's session
expires. That signature (`orphaned_join`) held for a few seconds gets a rejoin asked for
at once (`KafkaInput`), without waiting for the limit above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafka.structs import MemberState


@dataclass(frozen=True, slots=True)
class Membership:
    """What the client says of its membership (read from kafka-python's coordinator)."""

    stable: bool  # joined and synced, no rejoin pending
    heartbeat_age_s: float  # since the last answered heartbeat (or the join, if later)
    detail: str  # for the log line
    # "Rebalancing", no rejoin pending and no join in flight: a join nobody awaited.
    orphaned_join: bool = False


def read_membership(consumer: Any, now: float | None = None) -> Membership | None:
    """None when kafka-python's internals are not what this reads: the watchdog then stays
    idle rather than guess."""
    now = time.monotonic() if now is None else now
    try:
        c = consumer._coordinator
        state = str(c.state)
        stable = bool(c.stable())
        rejoin = bool(c.need_rejoin())
        hb = c.heartbeat
        last = max(float(hb.last_receive), float(hb.last_reset))
        unknown = bool(c.coordinator_unknown())
        generation = c._generation.generation_id
        task = getattr(c, "_join_task", None)
        in_flight = task is not None and not bool(task.is_done)
        orphaned = c.state == MemberState.REBALANCING and not rejoin and not in_flight
    except Exception:
        return None
    detail = (
        f"state={state} rejoin_needed={rejoin} coordinator_known={not unknown} "
        f"generation={generation} heartbeat_age={now - last:.1f}s"
    )
    return Membership(stable and not rejoin, now - last, detail, orphaned)


class _Held:
    """How long a condition has held, seen at each poll without a break."""

    def __init__(self) -> None:
        self.since: float | None = None

    def for_s(self, condition: bool, now: float) -> float | None:
        """Seconds since the condition was first seen this time; None when it does not hold."""
        if not condition:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        return now - self.since


class Watchdog:
    """`check()` once a poll: True once membership has been unhealthy for `limit_s`."""

    def __init__(self, limit_s: float, session_s: float, orphan_grace_s: float = 3.0) -> None:
        self.limit_s = limit_s
        self.session_s = session_s
        self.orphan_grace_s = orphan_grace_s
        self._unhealthy = _Held()
        self._orphaned = _Held()

    @classmethod
    def for_consumer(cls, max_poll_interval_ms: int, session_timeout_ms: int) -> Watchdog:
        return cls((max_poll_interval_ms + session_timeout_ms) / 1000, session_timeout_ms / 1000)

    def healthy(self, m: Membership) -> bool:
        return m.stable and m.heartbeat_age_s <= self.session_s

    def check(self, m: Membership | None, now: float) -> bool:
        held = self._unhealthy.for_s(m is not None and not self.healthy(m), now)
        return held is not None and held >= self.limit_s

    def orphaned(self, m: Membership | None, now: float) -> bool:
        """True once a join nobody awaits has been seen for `orphan_grace_s` without a
        break (a poll that awaits its join clears the signature within the same poll)."""
        held = self._orphaned.for_s(m is not None and m.orphaned_join, now)
        if held is None or held < self.orphan_grace_s:
            return False
        self._orphaned.since = None  # asked once; seen again, asked again after the grace
        return True

    def reset(self) -> None:
        self._unhealthy.since = None
        self._orphaned.since = None
