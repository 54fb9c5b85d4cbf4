"""The enrolment side of the store contract, on SqliteStore and PostgresStore alike: enrol
links by id / segment / course, their states, the enrolment rule's diff (pairs and every
link with every user), applying it, and paging through the users of a bulk recompute."""

from __future__ import annotations

from worker.domain.facts import Fact
from worker.ports import FactKey, StateStore

S = "site"


def _world(store: StateStore, site: str = S) -> None:
    """E1: c1/s1 (student, suspend), E2: c2/s2 deleted. u0..u4 members of s1, u9 of s2."""
    with store.transaction() as tx:
        tx.save_facts(
            "enrol_link", {(site, "E1"): Fact(1, "l1", True, ("c1", "s1", "student", "suspend"))}
        )
        tx.save_facts(
            "enrol_link", {(site, "E2"): Fact(1, "l2", True, ("c2", "s2", "teacher", "unenrol"))}
        )
        tx.save_facts("enrol_link", {(site, "E2"): Fact(2, "l3", False)})
        member: dict[FactKey, Fact] = {
            (site, "s1", f"u{i}"): Fact(2, f"m{i}", True) for i in range(5)
        }
        member[(site, "s2", "u9")] = Fact(2, "m9", True)
        tx.save_facts("membership", member)


def test_enrol_links_states_and_the_rule(store: StateStore) -> None:
    _world(store)
    with store.transaction() as tx:
        assert tx.enrol_linked_sites([S, "other"]) == {S}
        assert tx.enrol_linked_sites(["other"]) == set() == tx.enrol_linked_sites([])
        assert tx.enrol_links_selected([], [(S, "s1")], []) == [(S, "E1", "c1", "s1")]
        assert tx.enrol_links_selected([(S, "E2")], [], [(S, "c1"), ("other", "c2")]) == [
            (S, "E1", "c1", "s1"),
            (S, "E2", "c2", "s2"),
        ]
        states = tx.enrol_link_states([(S, "E1"), (S, "E2"), (S, "E3"), ("other", "E1")])
        assert sorted(states) == [(S, "E1"), (S, "E2")]
        assert states[(S, "E1")].is_active() and states[(S, "E1")].on_leave == "suspend"
        assert not states[(S, "E2")].is_active() and states[(S, "E2")].course_id == "c2"
        users = ["u0", "u1", "u9"]
        ins, dels, got = tx.enrol_truth_diff(S, ["E1"], users, {("E1", "u1"), ("E1", "u9")})
        assert (ins, dels) == ({("E1", "u1", "c1")}, set()) and sorted(got) == ["E1"]
        every = {(a, u) for a in ("E1", "E2") for u in users}
        ins, dels, _ = tx.enrol_truth_diff(S, ["E1", "E2"], users, every)
        assert ins == {("E1", "u0", "c1"), ("E1", "u1", "c1")} and dels == set()
        tx.enrol_apply_diff({S: (ins, set())})
        assert tx.enrol_pair_links(S, [("c1", "u0"), ("c1", "u9")]) == {("c1", "u0"): {"E1"}}
        tx.save_marks("segment", {(S, "s1"): 5})  # after the link: it is dead, rows go
        ins, dels, _ = tx.enrol_truth_diff(S, ["E1", "E2"], users, every)
        assert ins == set() and dels == {("E1", "u0", "c1"), ("E1", "u1", "c1")}
        tx.enrol_apply_diff({S: (set(), dels)})
        assert tx.enrol_justification_counts(S, ["E1"]) == {}


def test_enrol_user_work_reads_every_site_at_once(store: StateStore) -> None:
    """Two sites with the same ids, in one call per step; nothing leaks between them."""
    _world(store, S)
    _world(store, "T")
    with store.transaction() as tx:
        tx.save_marks("segment", {("T", "s1"): 5})  # T's E1 is dead
        got = tx.enrol_links_selected([], [(S, "s1"), ("T", "s1")], [])
        assert got == sorted([(S, "E1", "c1", "s1"), ("T", "E1", "c1", "s1")])
        diffs = tx.enrol_truth_diff_sites({S: {("E1", "u1")}, "T": {("E1", "u1"), ("E1", "u2")}})
        assert diffs[S][:2] == ({("E1", "u1", "c1")}, set()) and sorted(diffs[S][2]) == ["E1"]
        assert diffs["T"][:2] == (set(), set()) and not diffs["T"][2]["E1"].is_active()
        tx.enrol_apply_diff({S: (diffs[S][0], set()), "T": ({("E1", "u2", "c1")}, set())})
        wanted = [(s, "c1", u) for s in (S, "T", "other") for u in ("u1", "u2")]
        assert tx.enrol_pair_states(wanted) == {
            (S, "c1", "u1"): (frozenset({"E1"}), 0, None),
            ("T", "c1", "u2"): (frozenset({"E1"}), 0, None),
        }
        tx.enrol_apply_diff({"T": (set(), {("E1", "u2", "c1")}), S: (set(), set())})
        assert tx.enrol_pair_states(wanted) == {(S, "c1", "u1"): (frozenset({"E1"}), 0, None)}


def test_enrol_next_users_pages_in_order(store: StateStore) -> None:
    _world(store)
    with store.transaction() as tx:
        rows = {("E2", "u8", "c2"), ("E1", "u1", "c1")}
        tx.enrol_apply_diff({S: (rows, set())})  # a row through the link counts
        first = tx.enrol_next_users(S, ["E1", "E2"], None, 4)
        assert first == ["u0", "u1", "u2", "u3"]
        assert tx.enrol_next_users(S, ["E1", "E2"], first[-1], 4) == ["u4", "u8", "u9"]
        assert tx.enrol_next_users(S, ["E1"], "u4", 4) == []
