"""Pair states (a pair's justifying links, commands so far and held batch in one read), on
SqliteStore and PostgresStore alike, for group pairs and enrolment pairs."""

from __future__ import annotations

import pytest

from worker.ports import OutboxRecord, StateStore

S = "site"


def test_pair_states_join_links_and_history(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.apply_diff(S, {("L1", "u1", "c1", "g1"), ("L2", "u1", "c1", "g1")}, set())
        tx.apply_diff(S, {("L3", "u3", "c1", "g1")}, set())
        tx.save_transitions(S, {("c1", "g1", "u1"): (1, None, "enrolled", "e1", 10)})
        tx.save_transitions(S, {("c1", "g1", "u2"): (2, 7, "unenrolled", "e2", 11)})
        wanted = [(S, "c1", "g1", f"u{i}") for i in range(5)] + [(S, "c1", "g1", "u1")]
        assert tx.pair_states(wanted) == {
            (S, "c1", "g1", "u1"): (frozenset({"L1", "L2"}), 1, None),
            (S, "c1", "g1", "u2"): (frozenset(), 2, 7),
            (S, "c1", "g1", "u3"): (frozenset({"L3"}), 0, None),
        }
        assert tx.pair_states([]) == {}
        assert tx.pair_states([("other", *p[1:]) for p in wanted]) == {}


def test_enrol_pair_states_join_links_and_history(store: StateStore) -> None:
    with store.transaction() as tx:
        rows = {("E1", "u1", "c1"), ("E2", "u1", "c1"), ("E1", "u3", "c1")}
        tx.enrol_apply_diff({S: (rows, set())})
        tx.enrol_save_transitions(S, {("c1", "u1"): (1, None, "joined_segment", "e1", 10)})
        tx.enrol_save_transitions(S, {("c1", "u2"): (2, 5, "left_segment", "e2", 11)})
        wanted = [(S, "c1", f"u{i}") for i in range(5)]
        assert tx.enrol_pair_states(wanted) == {
            (S, "c1", "u1"): (frozenset({"E1", "E2"}), 1, None),
            (S, "c1", "u2"): (frozenset(), 2, 5),
            (S, "c1", "u3"): (frozenset({"E1"}), 0, None),
        }


def test_pair_histories_written_in_a_transaction_are_read_back_in_it(store: StateStore) -> None:
    """Pair histories may be held back until the commit (one write per table per batch), but
    a read of the same pairs later in the transaction sees them, whatever the site order."""
    p, e = ("c1", "g1", "u1"), ("c1", "u1")
    with store.transaction() as tx:
        tx.save_transitions(S, {p: (1, None, "enrolled", "e1", 10)})
        tx.save_transitions("other", {p: (5, None, "enrolled", "e9", 10)})
        tx.enrol_save_transitions(S, {e: (1, None, "joined_segment", "e1", 10)})
        assert tx.pair_states([("other", *p)]) == {("other", *p): (frozenset(), 5, None)}
        assert tx.pair_states([(S, *p)]) == {(S, *p): (frozenset(), 1, None)}
        tx.save_transitions(S, {p: (2, 3, "unenrolled", "e2", 11)})
        assert tx.pair_transitions(S, [p]) == {p: (2, 3)}
        assert tx.enrol_pair_states([(S, *e)]) == {(S, *e): (frozenset(), 1, None)}
        tx.enrol_save_transitions(S, {e: (2, None, "left_segment", "e2", 11)})
        assert tx.enrol_pair_transitions(S, [e]) == {e: (2, None)}
    with store.transaction() as tx:
        assert tx.pair_transitions(S, [p]) == {p: (2, 3)}
        assert tx.pair_transitions("other", [p]) == {p: (5, None)}
        assert tx.enrol_pair_transitions(S, [e]) == {e: (2, None)}


def test_a_checkpoint_writes_what_was_held_and_a_rollback_drops_the_rest(
    store: StateStore,
) -> None:
    p = ("c1", "g1", "u1")
    rec = OutboxRecord("command", b"k", b"v1", [])
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.save_transitions(S, {p: (1, None, "enrolled", "e1", 10)})
        tx.add_outbox([rec])
        tx.commit()  # a checkpoint of a big recompute: kept
        tx.save_transitions(S, {p: (2, None, "unenrolled", "e2", 11)})
        tx.add_outbox([OutboxRecord("command", b"k", b"v2", [])])
        raise RuntimeError
    assert [r.value for r in store.pending(10)] == [b"v1"]
    with store.transaction() as tx:
        assert tx.pair_transitions(S, [p]) == {p: (1, None)}


def test_outbox_rows_keep_the_order_they_were_added_in(store: StateStore) -> None:
    with store.transaction() as tx:
        for n in range(6):
            tx.add_outbox([OutboxRecord("command", f"k{n}".encode(), b"a", [])])
            tx.save_transitions(f"site{n % 3}", {("c", "g", f"u{n}"): (1, None, "r", "e", n)})
            tx.add_outbox([OutboxRecord("command", f"k{n}".encode(), b"b", [])])
    assert [(r.key, r.value) for r in store.pending(20)] == [
        (f"k{n}".encode(), v) for n in range(6) for v in (b"a", b"b")
    ]
