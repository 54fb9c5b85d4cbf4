"""The consumer watchdog's decision (pure): recreate only after membership has been
unhealthy, without a break, for longer than a rebalance may legitimately take."""

from __future__ import annotations

from worker.adapters.consumer_watchdog import Membership, Watchdog, read_membership

STABLE = Membership(True, 1.0, "stable")
REJOINING = Membership(False, 0.5, "rejoining")
SILENT = Membership(True, 30.0, "stable, but no heartbeat answered for 30 s")


def test_limit_is_rebalance_timeout_plus_session() -> None:
    w = Watchdog.for_consumer(max_poll_interval_ms=300_000, session_timeout_ms=45_000)
    assert (w.limit_s, w.session_s) == (345.0, 45.0)


def test_fires_only_after_the_limit_without_a_break() -> None:
    w = Watchdog(limit_s=10, session_s=6)
    assert not w.check(STABLE, 0)
    assert not w.check(REJOINING, 1)  # unhealthy from t=1
    assert not w.check(REJOINING, 10.9)
    assert w.check(REJOINING, 11)
    w.reset()
    assert not w.check(REJOINING, 12)  # counted again from here
    assert not w.check(STABLE, 20)  # a healthy moment breaks the run
    assert not w.check(REJOINING, 21)
    assert not w.check(REJOINING, 30)
    assert w.check(REJOINING, 31)


def test_a_stable_member_whose_heartbeats_go_unanswered_is_unhealthy() -> None:
    w = Watchdog(limit_s=10, session_s=6)
    assert not w.healthy(SILENT) and w.healthy(STABLE)
    assert not w.check(SILENT, 0)
    assert w.check(SILENT, 10)


def test_unknown_internals_keep_it_idle() -> None:
    w = Watchdog(limit_s=1, session_s=1)
    assert read_membership(object()) is None
    assert not w.check(REJOINING, 0)
    assert not w.check(None, 5)  # not read: not counted as unhealthy
    assert not w.check(REJOINING, 6)


ORPHANED = Membership(False, 2.0, "rebalancing, no rejoin pending, no join in flight", True)


def test_a_join_nobody_awaits_is_acted_on_after_a_short_grace() -> None:
    w = Watchdog(limit_s=300, session_s=6, orphan_grace_s=3)
    assert not w.orphaned(ORPHANED, 0)
    assert not w.orphaned(ORPHANED, 2.9)
    assert w.orphaned(ORPHANED, 3)  # long before the limit
    assert not w.orphaned(ORPHANED, 3.5)  # asked once; again only after another grace
    assert w.orphaned(ORPHANED, 6.5)
    assert not w.orphaned(ORPHANED, 7)
    assert not w.orphaned(REJOINING, 8)  # a break: counted again from the next sighting
    assert not w.orphaned(ORPHANED, 9)
    assert w.orphaned(ORPHANED, 12)
    assert not w.orphaned(None, 13) and not w.orphaned(STABLE, 14)


def test_read_membership_sees_the_orphaned_join() -> None:
    class Hb:
        last_receive, last_reset = 10.0, 0.0

    class Gen:
        generation_id = 2

    class Task:
        def __init__(self, done: bool) -> None:
            self.is_done = done

    class Coordinator:
        heartbeat, _generation = Hb(), Gen()

        def __init__(self, state: str, rejoin: bool, task: Task | None) -> None:
            self.state, self._rejoin, self._join_task = state, rejoin, task

        def stable(self) -> bool:
            return bool(self.state == "<stable>")

        def need_rejoin(self) -> bool:
            return self._rejoin

        def coordinator_unknown(self) -> bool:
            return False

    class Consumer:
        def __init__(self, c: Coordinator) -> None:
            self._coordinator = c

    def orphaned(state: str, rejoin: bool, task: Task | None) -> bool:
        m = read_membership(Consumer(Coordinator(state, rejoin, task)), now=12.0)
        assert m is not None
        return m.orphaned_join

    assert orphaned("<rebalancing>", False, None)
    assert orphaned("<rebalancing>", False, Task(done=True))
    assert not orphaned("<rebalancing>", False, Task(done=False))  # a join in flight
    assert not orphaned("<rebalancing>", True, None)  # a rejoin pending: it will join
    assert not orphaned("<stable>", False, None)
