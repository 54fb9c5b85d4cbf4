"""What every StateStore must do, run against SqliteStore and PostgresStore alike (the way
arroyo runs one suite against every backend): the engine relies on exactly this."""

from __future__ import annotations

from typing import Any

import pytest

from worker.domain.candidates import TouchingLinks, UserHoldings
from worker.domain.facts import Fact, Verdict
from worker.ports import (
    CommandMeta,
    FactKey,
    HeldRecord,
    OutboxRecord,
    PendingRecord,
    StateStore,
)
from worker.store.urls import outbox_in_own_process

S = "site"


def test_a_transaction_commits_on_exit_and_rolls_back_on_error(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.mark_processed([(S, "a")])
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.mark_processed([(S, "b")])
        tx.commit()  # a checkpoint: kept
        tx.mark_processed([(S, "c")])
        raise RuntimeError
    with store.transaction() as tx:
        assert tx.seen_events([(S, "a"), (S, "b"), (S, "c"), ("other", "a")]) == {
            (S, "a"),
            (S, "b"),
        }


def test_processed_events_are_idempotent_and_scoped_by_source(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.mark_processed([(S, "e1"), (S, "e1"), ("x", "e1")])
        tx.mark_processed([(S, "e1")])
        assert tx.seen_events([(S, "e1"), ("x", "e1"), ("y", "e1")]) == {(S, "e1"), ("x", "e1")}


def test_the_processed_log_answers_each_key_of_a_big_mixed_batch(store: StateStore) -> None:
    # The loop's lookup before decoding (outside a transaction) and the one inside must say
    # the same of every key, whatever the order, the duplicates and the characters.
    odd = ['q"uote', "back\\slash", "com,ma", "{br}", "sp ace", "NULL", "é✓", "x" * 120]
    keys = [(f"{S}{i % 3}", f"{odd[i % len(odd)]}-{i}") for i in range(2_500)]
    applied = {k for i, k in enumerate(keys) if i % 3 == 0 or i % 7 == 0}
    with store.transaction() as tx:
        tx.mark_processed(sorted(applied))
    asked = list(reversed(keys)) + keys[:50] + [("nobody", "x"), (S, "")]
    assert store.seen_events(asked) == applied
    with store.transaction() as tx:
        assert tx.seen_events(asked) == applied
        tx.mark_processed([("nobody", "x")])
        assert tx.seen_events(asked) == applied | {("nobody", "x")}  # its own write, held
    assert store.seen_events(iter(asked)) == applied | {("nobody", "x")}
    assert store.seen_events([]) == set()


def test_facts_round_trip_and_a_deleted_link_keeps_its_attributes(store: StateStore) -> None:
    enrol: dict[FactKey, Fact] = {
        (S, "c1", "u1", ""): Fact(10, "e1", True),  # enrolments are kept per method
        (S, "c1", "u2", "manual"): Fact(11, "e2", False),
    }
    link: dict[FactKey, Fact] = {(S, "L1"): Fact(5, "l1", True, ("c1", "s1", "g1"))}
    with store.transaction() as tx:
        tx.save_facts("enrollment", enrol)
        tx.save_facts("link", link)
        tx.save_facts("link", {(S, "L1"): Fact(6, "l2", False)})
        tx.save_facts("enrollment", {(S, "c1", "u1", ""): Fact(12, "e3", False)})
    with store.transaction() as tx:
        keys = [(S, "c1", "u1", ""), (S, "c1", "u2", "manual"), (S, "c1", "u2", "")]
        got = tx.load_facts("enrollment", keys)
        assert got == {
            (S, "c1", "u1", ""): Fact(12, "e3", False),
            (S, "c1", "u2", "manual"): enrol[(S, "c1", "u2", "manual")],
        }
        assert tx.load_facts("link", [(S, "L1")]) == {
            (S, "L1"): Fact(6, "l2", False, ("c1", "s1", "g1"))
        }
        assert tx.load_facts("membership", [(S, "s1", "u1")]) == {}


def test_deletion_marks_round_trip(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.save_marks("group", {(S, "c1", "g1"): 7})
        tx.save_marks("group", {(S, "c1", "g1"): 9})
        tx.save_marks("course", {(S, "c1"): 3})
    with store.transaction() as tx:
        assert tx.load_marks("group", [(S, "c1", "g1"), (S, "c1", "g2")]) == {(S, "c1", "g1"): 9}
        assert tx.load_marks("course", [(S, "c1")]) == {(S, "c1"): 3}
        assert tx.load_marks("segment", [(S, "s1")]) == {}


def test_fold_facts_newest_wins_in_batch_order(store: StateStore) -> None:
    new, same, stale = Verdict.NEWER, Verdict.SAME, Verdict.STALE
    k1, k2 = (S, "c1", "u1", ""), (S, "c1", "u1", "manual")
    with store.transaction() as tx:
        assert tx.fold_facts("enrollment", [(k1, Fact(5, "e5", True))]) == [new]
    with store.transaction() as tx:
        batch = [
            (k1, Fact(4, "e4", False)),  # older than the stored fact
            (k1, Fact(5, "e5", True)),  # the stored fact itself (a re-run)
            (k2, Fact(7, "e7", True)),
            (k2, Fact(7, "e6", False)),  # same time, smaller id
            (k2, Fact(7, "e8", False)),  # same time, larger id: wins
            (k2, Fact(7, "e8", False)),
        ]
        assert tx.fold_facts("enrollment", batch) == [stale, same, new, stale, new, same]
        assert tx.fold_facts("membership", []) == []
        link = [(S, "L1")]
        created = Fact(1, "l1", True, ("c1", "s1", "g1"))
        assert tx.fold_facts("link", [(link[0], created)]) == [new]
        assert tx.fold_facts("link", [(link[0], Fact(2, "l2", False))]) == [new]
    with store.transaction() as tx:
        assert tx.load_facts("enrollment", [k1, k2]) == {
            k1: Fact(5, "e5", True),
            k2: Fact(7, "e8", False),
        }
        assert tx.load_facts("link", link) == {link[0]: Fact(2, "l2", False, ("c1", "s1", "g1"))}


def test_fold_marks_latest_wins(store: StateStore) -> None:
    new, same, stale = Verdict.NEWER, Verdict.SAME, Verdict.STALE
    g = (S, "c1", "g1")
    with store.transaction() as tx:
        assert tx.fold_marks("group", [(g, 5), (g, 3), (g, 5), (g, 8)]) == [new, stale, same, new]
        assert tx.fold_marks("group", [(g, 8)]) == [same]
        assert tx.load_marks("group", [g]) == {g: 8}


def _world(store: StateStore, users: int = 3, site: str = S, group: str = "g1") -> None:
    """L1: c1/s1 → g1. Users u0.. enrolled in c1 and members of s1; u9 only enrolled."""
    with store.transaction() as tx:
        tx.save_facts("link", {(site, "L1"): Fact(1, "l", True, ("c1", "s1", group))})
        enrol: dict[FactKey, Fact] = {
            (site, "c1", f"u{i}", ""): Fact(2, f"e{i}", True) for i in range(users)
        }
        enrol[(site, "c1", "u9", "self")] = Fact(2, "e9", True)
        tx.save_facts("enrollment", enrol)
        member: dict[FactKey, Fact] = {
            (site, "s1", f"u{i}"): Fact(2, f"m{i}", True) for i in range(users)
        }
        tx.save_facts("membership", member)


def test_truth_diff_apply_and_again_nothing(store: StateStore) -> None:
    _world(store)
    users = ["u0", "u1", "u2", "u9"]
    with store.transaction() as tx:
        d = tx.truth_diff(S, ["L1"], users)
        assert d.inserts == {("L1", f"u{i}", "c1", "g1") for i in range(3)} and d.deletes == set()
        assert tx.truth_diff(S, ["L1"], users, [("L1", "u1"), ("L1", "u9")]).inserts == {
            ("L1", "u1", "c1", "g1")
        }
        tx.apply_diff(S, d.inserts, d.deletes)
        assert tx.truth_diff(S, ["L1"], users).inserts == set()
        assert tx.pair_links(S, [("c1", "g1", "u0"), ("c1", "g1", "u9")]) == {
            ("c1", "g1", "u0"): {"L1"}
        }
        assert tx.justification_counts(S, ["L1", "L2"]) == {"L1": 3}
        # What a user holds now, read by the user: active facts and justification rows.
        assert tx.user_holdings([(S, "u0"), (S, "u9"), ("other", "u0"), (S, "nobody")]) == {
            (S, "u0"): UserHoldings(frozenset({"c1"}), frozenset({"s1"}), (("L1", "c1"),)),
            (S, "u9"): UserHoldings(frozenset({"c1"}), frozenset(), ()),
        }
        # An ended membership and enrolment are not held; the row stays until the diff.
        tx.save_facts("membership", {(S, "s1", "u0"): Fact(3, "m-end", False)})
        tx.save_facts("enrollment", {(S, "c1", "u9", "self"): Fact(3, "e-end", False)})
        assert tx.user_holdings([(S, "u0"), (S, "u9")]) == {
            (S, "u0"): UserHoldings(frozenset({"c1"}), frozenset(), (("L1", "c1"),))
        }
        tx.save_facts("membership", {(S, "s1", "u0"): Fact(4, "m-again", True)})
        # A deletion mark at the link's time kills it: every row goes.
        tx.save_marks("group", {(S, "c1", "g1"): 1})
        d = tx.truth_diff(S, ["L1"], users)
        assert d.inserts == set() and len(d.deletes) == 3
        tx.apply_diff(S, set(), d.deletes)
        assert tx.pair_links(S, [("c1", "g1", "u0")]) == {}


def test_apply_truth_writes_the_diff_it_returns(store: StateStore) -> None:
    _world(store)
    users = ["u0", "u1", "u2", "u9"]
    with store.transaction() as tx:
        d = tx.apply_truth(S, ["L1"], users, [("L1", "u1"), ("L1", "u9")])
        assert d.inserts == {("L1", "u1", "c1", "g1")} and d.deletes == set()
        d = tx.apply_truth(S, ["L1"], users)  # every link with every user
        assert d.inserts == {("L1", "u0", "c1", "g1"), ("L1", "u2", "c1", "g1")}
        assert tx.apply_truth(S, ["L1"], users) == d.__class__(set(), set())
        # The link moves to another group: the same keys, new (course, group).
        tx.save_facts("link", {(S, "L1"): Fact(3, "l3", True, ("c1", "s1", "g2"))})
        d = tx.apply_truth(S, ["L1"], users)
        assert d.inserts == {("L1", f"u{i}", "c1", "g2") for i in range(3)}
        assert d.deletes == {("L1", f"u{i}", "c1", "g1") for i in range(3)}
        assert tx.pair_links(S, [("c1", "g1", "u0"), ("c1", "g2", "u0")]) == {
            ("c1", "g2", "u0"): {"L1"}
        }
        tx.save_marks("segment", {(S, "s1"): 3})
        d = tx.apply_truth(S, ["L1"], users)
        assert d.inserts == set() and len(d.deletes) == 3
        assert tx.justification_counts(S, ["L1"]) == {}


def test_a_batchs_user_work_reads_every_site_at_once(store: StateStore) -> None:
    """Two sites with the same ids: links, justified rows, the truth diff and pair states
    of both in one call each, and nothing of one site leaks into the other."""
    _world(store, site=S, group="g1")
    _world(store, users=2, site="T", group="g7")
    with store.transaction() as tx:
        touching = tx.links_touching([(S, "c1"), ("T", "c1")], [("T", "s1")])
        assert sorted(set(touching)) == sorted([(S, "L1", "c1", "s1"), ("T", "L1", "c1", "s1")])
        diffs = tx.apply_truth_sites({S: [("L1", "u0")], "T": [("L1", "u0"), ("L1", "u2")]})
        assert {s: (d.inserts, d.deletes) for s, d in diffs.items() if d.inserts or d.deletes} == {
            S: ({("L1", "u0", "c1", "g1")}, set()),
            "T": ({("L1", "u0", "c1", "g7")}, set()),
        }
        keys = [(s, u) for s in (S, "T", "other") for u in ("u0", "u2")]
        held = tx.user_holdings(keys)
        assert {k: h.justified for k, h in held.items()} == {
            (S, "u0"): (("L1", "c1"),),
            (S, "u2"): (),
            ("T", "u0"): (("L1", "c1"),),
        }
        assert held[(S, "u2")].courses == held[("T", "u0")].courses == {"c1"}
        tx.save_transitions("T", {("c1", "g7", "u0"): (1, None, "enrolled", "e0", 5)})
        wanted = [(S, "c1", "g1", "u0"), ("T", "c1", "g7", "u0"), ("T", "c1", "g1", "u0")]
        assert tx.pair_states(wanted) == {
            (S, "c1", "g1", "u0"): (frozenset({"L1"}), 0, None),
            ("T", "c1", "g7", "u0"): (frozenset({"L1"}), 1, None),
        }
        # Membership of T's u0 ends: only T's row goes.
        tx.save_facts("membership", {("T", "s1", "u0"): Fact(3, "m-end", False)})
        diffs = tx.apply_truth_sites({S: [("L1", "u0")], "T": [("L1", "u0")]})
        changed = {s: (d.inserts, d.deletes) for s, d in diffs.items() if d.inserts or d.deletes}
        assert changed == {"T": (set(), {("L1", "u0", "c1", "g7")})}


def test_a_batchs_changes_apply_the_rule_to_the_pairs_they_can_move(store: StateStore) -> None:
    """`apply_user_truth`: the changed courses and segments per user in, the rule applied to
    the pairs they can move (ADR 0012 / 0014), what changed out; two sites, same ids."""
    _world(store, site=S, group="g1")
    _world(store, users=2, site="T", group="g7")

    def user_truth(tx: Any, changed: dict[tuple[str, str], tuple[set[str], set[str]]]) -> Any:
        cs = {(s, c) for (s, _), (courses, _) in changed.items() for c in courses}
        gs = {(s, g) for (s, _), (_, segments) in changed.items() for g in segments}
        touching = TouchingLinks.of(tx.links_touching(cs, gs))
        got = tx.apply_user_truth(changed, touching)
        return {s: (d.inserts, d.deletes) for s, d in got.items() if d.inserts or d.deletes}

    with store.transaction() as tx:
        # u0 of S enrolled, u1 of T joined: each justified through its site's link; u9 of S
        # (enrolled by "self", no segment) and a change no link is on: nothing.
        assert user_truth(
            tx,
            {
                (S, "u0"): ({"c1"}, set()),
                ("T", "u1"): (set(), {"s1"}),
                (S, "u9"): ({"c1"}, set()),
                (S, "u1"): ({"c9"}, {"s9"}),
            },
        ) == {S: ({("L1", "u0", "c1", "g1")}, set()), "T": ({("L1", "u1", "c1", "g7")}, set())}
        assert user_truth(tx, {(S, "u0"): ({"c1"}, set())}) == {}  # applied: nothing again
        # u0 of S leaves the segment: its row goes (a stored row through a changed segment).
        tx.save_facts("membership", {(S, "s1", "u0"): Fact(3, "m-end", False)})
        assert user_truth(tx, {(S, "u0"): (set(), {"s1"})}) == {
            S: (set(), {("L1", "u0", "c1", "g1")})
        }
        assert tx.justification_counts(S, ["L1"]) == {}
        assert tx.justification_counts("T", ["L1"]) == {"L1": 1}


class _Undo(Exception):
    pass


def test_an_enrolment_by_several_methods_is_theirs(store: StateStore) -> None:
    """(course, user) is enrolled while one of its methods is, at the newest active one's
    time (`enrolment_of`), on every path that reads enrolments; and a user with several
    methods is one user of a page. The course was deleted at 4, the link made again at 6:
    `a` (an active method from 5) is in, `b` (its method from 5 ended; the active one is from
    2) and `c` (no active method) are not."""
    methods = {
        "a": ((2, True), (5, True)),
        "b": ((2, True), (5, False)),
        "c": ((2, False), (3, False)),
    }
    users = sorted(methods)
    with store.transaction() as tx:
        tx.save_facts("link", {(S, "L1"): Fact(6, "l", True, ("c1", "s1", "g1"))})
        tx.save_marks("course", {(S, "c1"): 4})
        tx.save_facts(
            "enrollment",
            {
                (S, "c1", u, m): Fact(t, f"{u}{m}", on)
                for u, both in methods.items()
                for m, (t, on) in zip(("", "manual"), both, strict=True)
            },
        )
        tx.save_facts("membership", {(S, "s1", u): Fact(2, f"m{u}", True) for u in users})
    only_a = {("L1", "a", "c1", "g1")}
    every_pair = [("L1", u) for u in users]
    with store.transaction() as tx:
        assert tx.next_users(S, ["L1"], None, 2) == ["a", "b"]  # not ["a"]: a once
        assert tx.next_users(S, ["L1"], "b", 2) == []
        held = tx.user_holdings([(S, u) for u in users])
        assert {u: held[(S, u)].courses for u in ("a", "b")} == {"a": {"c1"}, "b": {"c1"}}
        assert (S, "c") not in held or not held[(S, "c")].courses
        assert tx.truth_diff(S, ["L1"], users).inserts == only_a
        assert tx.truth_diff(S, ["L1"], users, every_pair).inserts == only_a
    for user_work in (False, True):  # the pairs form, then the batch's user work
        with pytest.raises(_Undo), store.transaction() as tx:
            if user_work:
                touching = TouchingLinks.of(tx.links_touching([(S, "c1")], []))
                got = tx.apply_user_truth({(S, u): ({"c1"}, set()) for u in users}, touching)
            else:
                got = tx.apply_truth_sites({S: every_pair})
            assert got[S].inserts == only_a
            raise _Undo


def test_links_by_course_segment_and_id(store: StateStore) -> None:
    _world(store)
    with store.transaction() as tx:
        tx.save_facts("link", {(S, "L2"): Fact(1, "l2", True, ("c2", "s1", "g2"))})
        assert tx.links_touching([(S, "c1"), ("other", "c1")], []) == [(S, "L1", "c1", "s1")]
        assert sorted(tx.links_touching([], [(S, "s1")])) == [
            (S, "L1", "c1", "s1"),
            (S, "L2", "c2", "s1"),
        ]
        assert sorted(tx.links_selected(S, ["L2"], [], [])) == [("L2", "c2", "s1", "g2")]
        assert sorted(tx.links_selected(S, [], [], ["c1"])) == [("L1", "c1", "s1", "g1")]
        assert tx.links_selected(S, [], [], []) == []


def test_next_users_pages_in_order(store: StateStore) -> None:
    _world(store, users=5)
    with store.transaction() as tx:
        first = tx.next_users(S, ["L1"], None, 4)
        assert first == ["u0", "u1", "u2", "u3"]
        # u9 is enrolled in c1 but not in s1: L1 can neither justify it nor does it.
        assert tx.next_users(S, ["L1"], first[-1], 4) == ["u4"]
        assert tx.next_users(S, ["L1"], "u4", 4) == []


def test_next_users_are_those_a_link_justifies_or_could(store: StateStore) -> None:
    """Active in one of the links' courses and in that link's segment, or justified through
    one of them now (whatever its facts say since): no one else can change."""
    _world(store, users=4)
    with store.transaction() as tx:
        d = tx.truth_diff(S, ["L1"], ["u0", "u1", "u2", "u3"])
        tx.apply_diff(S, d.inserts, d.deletes)
        tx.save_facts(
            "link", {(S, "L2"): Fact(1, "l2", True, ("c2", "s2", "g2"))}
        )  # a second link: its course has u0, its segment u1 only
        tx.save_facts("enrollment", {(S, "c2", "u0", ""): Fact(2, "c2u0", True)})
        tx.save_facts("membership", {(S, "s2", "u1"): Fact(2, "s2u1", True)})
        # u1 leaves c1 and u2 leaves s1: both still justified by L1 (until recomputed).
        tx.save_facts("enrollment", {(S, "c1", "u1", ""): Fact(3, "c1u1-end", False)})
        tx.save_facts("membership", {(S, "s1", "u2"): Fact(3, "s1u2-end", False)})
        assert tx.next_users(S, ["L2"], None, 10) == []
        assert tx.next_users(S, ["L1", "L2"], None, 10) == ["u0", "u1", "u2", "u3"]
        d = tx.truth_diff(S, ["L1"], ["u0", "u1", "u2", "u3"])
        tx.apply_diff(S, d.inserts, d.deletes)
        assert tx.next_users(S, ["L1"], None, 10) == ["u0", "u3"]
        assert tx.next_users(S, ["L1"], "u0", 1) == ["u3"]


def test_pair_transitions_round_trip(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.save_transitions(
            S,
            {
                ("c1", "g1", "u1"): (1, None, "enrolled", "e1", 10),
                ("c1", "g1", "u2"): (2, 7, "unenrolled", "e2", 11),
            },
        )
        tx.save_transitions(S, {("c1", "g1", "u1"): (3, None, "enrolled", "e3", 12)})
    with store.transaction() as tx:
        got = tx.pair_transitions(S, [("c1", "g1", "u1"), ("c1", "g1", "u2"), ("c1", "g1", "u3")])
        assert got == {("c1", "g1", "u1"): (3, None), ("c1", "g1", "u2"): (2, 7)}
    assert store.managed_groups(S) == {("c1", "g1")}
    assert sorted(store.desired_pairs(S)) == [("c1", "g1", "u1")]


def _rec(n: int, destination: str = "command") -> OutboxRecord:
    return OutboxRecord(
        destination, f"k{n}".encode(), f"v{n}".encode(), [("h", b"\x00\xff"), ("n", None)]
    )


def test_outbox_publishes_in_order_and_deletes_after_the_send(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.add_outbox([_rec(i) for i in range(5)])
    assert store.sample().outbox_backlog == 5

    def broken(rows: list[PendingRecord]) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        store.publish_pending(broken, 2)
    assert store.status("g").outbox_backlog == 5  # nothing lost
    sent: list[list[PendingRecord]] = []
    assert store.publish_pending(sent.append, 2) == 5
    assert [len(b) for b in sent] == [2, 2, 1]
    flat = [r for b in sent for r in b]
    assert [(r.key, r.value) for r in flat] == [
        (f"k{i}".encode(), f"v{i}".encode()) for i in range(5)
    ]
    assert list(flat[0].headers) == [("h", b"\x00\xff"), ("n", None)]
    assert store.pending(10) == [] and store.sample().outbox_backlog == 0


def test_outbox_removes_exactly_the_rows_sent(store: StateStore) -> None:
    """Rows removed by seq, whatever their number and gaps; the rest and their timestamps and
    metrics fields read back as they went in."""
    meta = CommandMeta("lms.group.member.added", "link_created", 1_700_000_000_000_000)
    with store.transaction() as tx:
        tx.add_outbox(
            [
                OutboxRecord(
                    "command",
                    f"k{i}".encode(),
                    b"v",
                    [],
                    timestamp_ms=i if i % 2 else None,
                    meta=meta if i % 5 else None,
                )
                for i in range(2500)
            ]
        )
    rows = store.pending(3000)
    assert len(rows) == 2500
    store.remove_pending([r.seq for i, r in enumerate(rows) if i % 3])
    left = store.pending(3000)
    assert [r.key for r in left] == [f"k{i}".encode() for i in range(0, 2500, 3)]
    assert [r.timestamp_ms for r in left] == [i if i % 2 else None for i in range(0, 2500, 3)]
    assert [r.meta for r in left] == [meta if i % 5 else None for i in range(0, 2500, 3)]
    store.remove_pending([])
    assert len(store.pending(3000)) == len(left)


def test_outbox_publish_reads_once_when_less_than_a_batch(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that returns less than a batch was the whole outbox as the publish found it:
    no further transaction to find it empty (a publish per batch is on every event's path)."""
    from worker.store import outbox_repo

    reads: list[int] = []
    real = outbox_repo.pending

    def counting(conn: Any, limit: int) -> list[PendingRecord]:
        rows = real(conn, limit)
        reads.append(len(rows))
        return rows

    monkeypatch.setattr(outbox_repo, "pending", counting)
    with store.transaction() as tx:
        tx.add_outbox([_rec(i) for i in range(5)])
    sent: list[list[PendingRecord]] = []
    assert store.publish_pending(sent.append, 10) == 5
    assert reads == [5] and [len(b) for b in sent] == [5]
    with store.transaction() as tx:
        tx.add_outbox([_rec(i) for i in range(4)])
    reads.clear()
    assert store.publish_pending(sent.append, 2) == 4
    assert reads == [2, 2, 0]  # full reads: there may be more
    assert store.pending(10) == []


def test_offsets_and_counters(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.save_offsets("g", {("in", 0): 10, ("in", 1): 5})
        tx.save_offsets("g", {("in", 0): 12})
        tx.save_offsets("other", {("in", 0): 99})
        tx.bump_counters({("in", 0, "events.dlq"): 2, ("in", 1, "events.dlq"): 1})
        tx.bump_counters({("in", 0, "events.dlq"): 3, ("in", 0, "commands.add"): 0})
    assert store.load_offsets("g", [("in", 0), ("in", 2)]) == {("in", 0): 12}
    got = store.status("g")
    assert got.offsets == {("in", 0): 12, ("in", 1): 5}
    assert got.counters == {"events.dlq": 6}


def test_held_batches_release_discard_and_errors(store: StateStore) -> None:
    with store.transaction() as tx:
        b1 = tx.open_held_batch(S, "del-1", "lms.course.deleted", "course c1: 2 of 2")
        assert tx.open_held_batch(S, "del-1", "lms.course.deleted", "again") == b1
        tx.add_held(b1, [HeldRecord("c1", "g1", f"u{i}", _rec(i)) for i in range(2)])
        tx.save_transitions(S, {("c1", "g1", "u0"): (2, b1, "course_deleted", "del-1", 5)})
        b2 = tx.open_held_batch(S, "del-2", "lms.group.deleted", "x")
        tx.add_held(b2, [HeldRecord("c1", "g2", "u5", _rec(5))])
    held = store.held_batches("held")
    assert [(b.id, b.commands, b.cause_event_id) for b in held] == [
        (b1, 2, "del-1"),
        (b2, 1, "del-2"),
    ]
    assert store.status("g").held_commands == 3 and store.sample().held == 3
    assert store.close_held(b1, release=True) == 2
    assert [r.key for r in store.pending(10)] == [b"k0", b"k1"]
    with store.transaction() as tx:  # the pair no longer queues behind the batch
        assert tx.pair_transitions(S, [("c1", "g1", "u0")]) == {("c1", "g1", "u0"): (2, None)}
    assert store.close_held(b2, release=False) == 1
    assert len(store.pending(10)) == 2
    assert [b.status for b in store.held_batches()] == ["released", "discarded"]
    with pytest.raises(ValueError):
        store.close_held(b1, release=False)
    with pytest.raises(LookupError):
        store.close_held(999, release=True)


def test_removal_estimate_counts_only_rows_no_other_link_keeps(store: StateStore) -> None:
    _world(store)
    with store.transaction() as tx:
        tx.save_facts("link", {(S, "L2"): Fact(1, "l2", True, ("c1", "s1", "g1"))})
        rows = {("L1", f"u{i}", "c1", "g1") for i in range(3)} | {("L2", "u0", "c1", "g1")}
        tx.apply_diff(S, rows, set())
        assert tx.removal_estimate(S, ("course", "c1"), ["L1"]) == [("c1", "g1", 2, 3)]
        assert tx.removal_estimate(S, ("course", "c1"), ["L1", "L2"]) == [("c1", "g1", 3, 3)]
        # L1 re-created on the same group: nothing at risk.
        assert tx.removal_estimate(S, ("link", "L1"), ["L1"]) == []


def test_schema_and_errors(store: StateStore) -> None:
    assert store.has_schema()
    assert not store.is_transient(ValueError("not a database error"))
    assert store.name in ("sqlite", "postgresql")


def test_the_url_says_what_the_store_will_say_about_publishing(
    db_url: str, store: StateStore
) -> None:
    """`segsync run` decides on the publisher process from the URL, before opening the
    store (to start the child first); the opened store must agree."""
    assert outbox_in_own_process(db_url) == store.publishes_while_applying
