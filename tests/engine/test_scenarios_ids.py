"""Scenarios: command ids depend only on the pair and its number of commands before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.engine_harness import wipe
from tests.support.reference import Ev
from tests.support.scenario_kit import Lms, Run, migrated


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def _history(lms: Lms) -> list[Ev]:
    out = [lms.link("L1", "c1", "S1", "g1", 1), lms.link("L2", "c1", "S2", "g2", 1)]
    for i, u in enumerate(("u1", "u2", "u3")):
        out += [lms.enrol(u, "c1", 2 + i), lms.join(u, "S1", 2), lms.join(u, "S2", 3)]
    out += [lms.leave("u1", "S1", 6), lms.join("u1", "S1", 7), lms.unlink("L2", 8)]
    out += [lms.link("L2", "c1", "S2", "g2", 9), lms.crs_del("c1", 10), lms.enrol("u2", "c1", 11)]
    out += [lms.link("L1", "c1", "S1", "g1", 12)]
    return out


def test_same_history_in_a_fresh_store_gives_the_same_commands(run: Run) -> None:
    history = _history(Lms())
    run.feed(*history, batch=2)
    first = run.raw()
    assert len(first) > 10
    wipe(run.store)
    again = Run(run.store)
    again.feed(*history, batch=2)
    assert again.raw() == first  # same ids, same everything


def test_ids_differ_per_transition_of_a_pair(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))
    for t in range(2, 8):
        run.feed(lms.enrol("u1", "c1", t) if t % 2 == 0 else lms.unenrol("u1", "c1", t))
    kinds = [c["type"].rsplit(".", 1)[1] for c in run.raw()]
    assert kinds == ["add", "remove"] * 3
    assert len({c["id"] for c in run.raw()}) == 6
    run.new()  # each id is the one derived from (pair, commands before)


def test_the_same_transition_by_another_path_has_the_same_id(run: Run) -> None:
    a = Lms()
    run.each(a.join("u1", "S1", 1), a.enrol("u1", "c1", 1), a.link("L1", "c1", "S1", "g1", 1))
    run.each(a.crs_del("c1", 5))
    path_a = [(c["id"], c["data"]["reason"]) for c in run.raw()]
    wipe(run.store)
    b = Lms()
    again = Run(run.store)
    again.each(b.link("L1", "c1", "S1", "g1", 3, "x1"), b.enrol("u1", "c1", 4, "x2"))
    again.each(b.join("u1", "S1", 2, "x3"), b.leave("u1", "S1", 6, "x4"))
    path_b = [(c["id"], c["data"]["reason"]) for c in again.raw()]
    assert [r for _, r in path_a] == ["link_created", "course_deleted"]
    assert [r for _, r in path_b] == ["joined_segment", "left_segment"]
    assert [i for i, _ in path_a] == [i for i, _ in path_b]


def test_ids_differ_between_pairs(run: Run) -> None:
    lms = Lms()
    for c, g in (("c1", "g1"), ("c1", "g2"), ("c2", "g1")):
        run.feed(lms.link(f"L-{c}-{g}", c, "S1", g, 1))
    for u in ("u1", "u2"):
        run.feed(lms.join(u, "S1", 1), lms.enrol(u, "c1", 1), lms.enrol(u, "c2", 1))
    other = Lms("site-b")
    run.feed(other.link("L-c1-g1", "c1", "S1", "g1", 1), other.join("u1", "S1", 1))
    run.feed(other.enrol("u1", "c1", 1))
    cmds = run.raw()
    assert len(cmds) == 7 and all(c["type"].endswith(".add") for c in cmds)
    assert len({c["id"] for c in cmds}) == 7


def test_ids_differ_when_ids_contain_separator_like_characters(run: Run) -> None:
    # Two different pairs whose ids, joined with any one character, would read the same:
    # (course "a\x1fb", group "c") and (course "a", group "b\x1fc").
    lms = Lms()
    run.feed(lms.join("u", "S1", 1), lms.enrol("u", "a\x1fb", 1), lms.enrol("u", "a", 1))
    run.feed(lms.link("L1", "a\x1fb", "S1", "c", 2), lms.link("L2", "a", "S1", "b\x1fc", 2))
    cmds = run.raw()
    assert {(c["data"]["course_id"], c["data"]["group_id"]) for c in cmds} == {
        ("a\x1fb", "c"),
        ("a", "b\x1fc"),
    }
    assert len({(c["source"], c["id"]) for c in cmds}) == 2  # both survive de-duplication
