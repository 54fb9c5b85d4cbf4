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
