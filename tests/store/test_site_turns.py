"""Batches of one LMS site take turns on a shared PostgreSQL (ADR 0010): two workers'
batches on the same site wait for each other instead of aborting each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from tests.support.scenario_kit import migrated
from worker.ports import StateStore
from worker.store import site_locks
from worker.store.sql_base import SqlStore

HOLD_S = 0.6


def test_transactions_naming_sites_commit_and_roll_back_like_any(store: StateStore) -> None:
    with store.transaction({"s1", "s2"}) as tx:
        tx.mark_processed([("s1", "a")])
    with pytest.raises(RuntimeError), store.transaction({"s1"}) as tx:
        tx.mark_processed([("s1", "b")])
        tx.commit()  # a checkpoint: kept, and the sites stay taken
        tx.mark_processed([("s1", "c")])
        raise RuntimeError
    with store.transaction({"s1"}) as tx:  # a failed one gave its sites back
        assert tx.seen_events([("s1", "a"), ("s1", "b"), ("s1", "c")]) == {
            ("s1", "a"),
            ("s1", "b"),
        }


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as s:
        assert isinstance(s, SqlStore)
        yield s


def _holder(store: SqlStore, sites: set[str], held: threading.Event, go: threading.Event) -> None:
    with store.transaction(sites) as tx:
        key = (sorted(sites)[0], "held")
        tx.mark_processed({key} - tx.seen_events([key]))  # as a batch does: the unseen only
        held.set()
        go.wait(10)


def _second(store: SqlStore, sites: set[str], out: dict[str, object]) -> threading.Thread:
    def run() -> None:
        with store.transaction(sites) as tx:
            out["entered"] = True
            out["saw"] = tx.seen_events([(sorted(sites)[0], "held")])

    t = threading.Thread(target=run)
    t.start()
    return t


def _start_holder(store: SqlStore, sites: set[str]) -> tuple[threading.Thread, threading.Event]:
    """A batch holding `sites` until the returned event is set."""
    held, go = threading.Event(), threading.Event()
    first = threading.Thread(target=_holder, args=(store, sites, held, go))
    first.start()
    assert held.wait(10)
    return first, go


def _waits_then_runs(
    store: SqlStore, first: threading.Thread, go: threading.Event, sites: set[str]
) -> dict[str, object]:
    """A second batch on `sites` must not enter while the first holds; once it ends, it runs."""
    out: dict[str, object] = {}
    second = _second(store, sites, out)
    second.join(HOLD_S)
    assert "entered" not in out, "a batch of a site in use went ahead"
    go.set()
    first.join(10)
    second.join(10)
    return out


def test_a_batch_of_the_same_site_waits_and_then_sees_the_first(pg_store: SqlStore) -> None:
    first, go = _start_holder(pg_store, {"s1", "s2"})
    out = _waits_then_runs(pg_store, first, go, {"s2", "s3"})
    # Its snapshot began after the first batch committed: it sees that batch's writes
    # (no stale read for SERIALIZABLE to abort later).
    assert out == {"entered": True, "saw": set()}  # "held" was written under s1
    with pg_store.transaction({"s2"}) as tx:
        assert tx.seen_events([("s1", "held")]) == {("s1", "held")}


def test_the_second_batch_sees_what_the_first_wrote_on_its_site(pg_store: SqlStore) -> None:
    first, go = _start_holder(pg_store, {"s1"})
    out = _waits_then_runs(pg_store, first, go, {"s1"})
    assert out == {"entered": True, "saw": {("s1", "held")}}


def test_batches_of_other_sites_do_not_wait(pg_store: SqlStore) -> None:
    first, go = _start_holder(pg_store, {"s1"})
    out: dict[str, object] = {}
    second = _second(pg_store, {"s9"}, out)
    second.join(5)
    try:
        assert out.get("entered") is True
    finally:
        go.set()
        first.join(10)


def test_a_failed_batch_gives_its_sites_back(pg_store: SqlStore) -> None:
    with pytest.raises(RuntimeError), pg_store.transaction({"s1"}) as tx:
        tx.mark_processed([("s1", "x")])
        raise RuntimeError
    # Another session (not the pooled one that held them) takes them at once.
    with pg_store.engine.connect() as conn:
        assert site_locks.take(conn, {"s1"}, wait="100ms")
        site_locks.free(conn)


def test_a_lock_wait_is_bounded_and_retried_as_transient(pg_store: SqlStore) -> None:
    first, go = _start_holder(pg_store, {"s1"})
    try:
        with pg_store.engine.connect() as conn, pytest.raises(OperationalError) as err:
            site_locks.take(conn, {"s1"}, wait="200ms")
        assert getattr(err.value.orig, "sqlstate", None) == "55P03"
        assert pg_store.is_transient(err.value)
    finally:
        go.set()
        first.join(10)


def test_lock_keys_are_sorted_and_stable() -> None:
    keys = site_locks.lock_keys(["b", "a", "b", "c"])
    assert keys == sorted(keys) and len(keys) == 3
    assert keys == site_locks.lock_keys(["c", "a", "b"])
    assert all(-(2**31) <= k < 2**31 for k in keys)


def test_a_wait_that_times_out_gives_back_the_keys_it_had_taken(pg_store: SqlStore) -> None:
    # Sites taken in key order: hold the later one, so that the first is granted before
    # the wait for the second times out.
    early, late = sorted(["s1", "s2"], key=lambda s: site_locks.lock_keys([s])[0])
    first, go = _start_holder(pg_store, {late})
    try:
        with pg_store.engine.connect() as conn:
            with pytest.raises(OperationalError):
                site_locks.take(conn, {early, late}, wait="200ms")
            with pg_store.engine.connect() as other:  # `early` is free again
                assert site_locks.take(other, {early}, wait="200ms")
                site_locks.free(other)
    finally:
        go.set()
        first.join(10)


def test_a_long_batch_lets_a_waiting_one_go_between_its_chunks(pg_store: SqlStore) -> None:
    # A recompute of many users commits chunk by chunk; between two chunks a batch of the
    # same site that waits goes first, instead of waiting for the whole recompute (a
    # backfill of a million users takes minutes: the waiter would time out and give up).
    order: list[str] = []
    held, go = threading.Event(), threading.Event()

    def long_batch() -> None:
        with pg_store.transaction({"s1"}) as tx:
            tx.mark_processed([("s1", "chunk-1")])
            held.set()
            go.wait(10)
            tx.commit()  # a checkpoint
            tx.give_turn()
            order.append("long batch resumed")
            tx.mark_processed([("s1", "chunk-2")])

    first = threading.Thread(target=long_batch)
    first.start()
    assert held.wait(10)
    out: dict[str, object] = {}

    def waiter() -> None:
        with pg_store.transaction({"s1"}) as tx:
            order.append("waiting batch applied")
            out["saw"] = tx.seen_events([("s1", "chunk-1"), ("s1", "chunk-2")])

    second = threading.Thread(target=waiter)
    second.start()
    second.join(HOLD_S)
    assert order == []  # it waits while the chunk is in hand
    go.set()
    first.join(10)
    second.join(10)
    assert order == ["waiting batch applied", "long batch resumed"]
    assert out["saw"] == {("s1", "chunk-1")}  # the committed chunk, not the next one


def test_giving_a_turn_without_sites_or_waiters_goes_straight_on(store: StateStore) -> None:
    with store.transaction({"s1"}) as tx:
        tx.mark_processed([("s1", "a")])
        tx.commit()
        tx.give_turn()
        tx.mark_processed([("s1", "b")])
    with store.transaction() as tx:
        tx.commit()
        tx.give_turn()
        assert tx.seen_events([("s1", "a"), ("s1", "b")]) == {("s1", "a"), ("s1", "b")}


def test_releasing_a_held_batch_takes_its_sites_turn(pg_store: SqlStore) -> None:
    """`segsync held release` clears its pairs' hold: under REPEATABLE READ it must not run
    beside a batch of that site (ADR 0013), it waits for it; other sites do not wait."""
    with pg_store.transaction({"s1"}) as tx:
        batch_id = tx.open_held_batch("s1", "ev-1", "lms.segment.deleted", "g1: 3 of 3")
    first, go = _start_holder(pg_store, {"s1"})
    out: dict[str, object] = {}

    def release() -> None:
        out["released"] = pg_store.close_held(batch_id, release=True)

    second = threading.Thread(target=release)
    second.start()
    second.join(HOLD_S)
    assert "released" not in out, "a release went ahead beside a batch of its site"
    go.set()
    first.join(10)
    second.join(10)
    assert out["released"] == 0

    with pg_store.transaction({"s2"}) as tx:
        other = tx.open_held_batch("s2", "ev-2", "lms.segment.deleted", "g1: 1 of 1")
    first, go = _start_holder(pg_store, {"s1"})
    try:
        assert pg_store.close_held(other, release=False) == 0  # s2: no wait for s1
    finally:
        go.set()
        first.join(10)
