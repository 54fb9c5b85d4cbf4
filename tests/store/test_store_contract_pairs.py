"""Pair states (a pair's justifying links, commands so far and held batch in one read), on
SqliteStore and PostgresStore alike, for group pairs and enrolment pairs."""

from __future__ import annotations

from worker.ports import StateStore

S = "site"


def test_pair_states_join_links_and_history(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.apply_diff(S, {("L1", "u1", "c1", "g1"), ("L2", "u1", "c1", "g1")}, set())
        tx.apply_diff(S, {("L3", "u3", "c1", "g1")}, set())
        tx.save_transitions(S, {("c1", "g1", "u1"): (1, None, "enrolled", "e1", 10)})
        tx.save_transitions(S, {("c1", "g1", "u2"): (2, 7, "unenrolled", "e2", 11)})
        wanted = [("c1", "g1", f"u{i}") for i in range(5)] + [("c1", "g1", "u1")]
        assert tx.pair_states(S, wanted) == {
            ("c1", "g1", "u1"): (frozenset({"L1", "L2"}), 1, None),
            ("c1", "g1", "u2"): (frozenset(), 2, 7),
            ("c1", "g1", "u3"): (frozenset({"L3"}), 0, None),
        }
        assert tx.pair_states(S, []) == {}
        assert tx.pair_states("other", wanted) == {}


def test_enrol_pair_states_join_links_and_history(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.enrol_apply_diff(S, {("E1", "u1", "c1"), ("E2", "u1", "c1"), ("E1", "u3", "c1")}, set())
        tx.enrol_save_transitions(S, {("c1", "u1"): (1, None, "joined_segment", "e1", 10)})
        tx.enrol_save_transitions(S, {("c1", "u2"): (2, 5, "left_segment", "e2", 11)})
        wanted = [("c1", f"u{i}") for i in range(5)]
        assert tx.enrol_pair_states(S, wanted) == {
            ("c1", "u1"): (frozenset({"E1", "E2"}), 1, None),
            ("c1", "u2"): (frozenset(), 2, 5),
            ("c1", "u3"): (frozenset({"E1"}), 0, None),
        }
