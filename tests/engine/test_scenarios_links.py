"""Scenarios: links into one group are an OR; a link's newer `created` event moves its members."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scenario_kit import Lms, Run, add, migrated, remove


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def test_two_links_into_one_group_are_an_or(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.link("L2", "c1", "S2", "g1", 1))
    assert run.feed(lms.enrol("u1", "c1", 1)) == []
    join1 = lms.join("u1", "S1", 2)
    assert run.feed(join1) == [add("c1", "g1", "u1", "joined_segment", ["L1"], join1)]
    assert run.feed(lms.join("u1", "S2", 2)) == []  # already in
    assert run.feed(lms.leave("u1", "S1", 3)) == []  # L2 still holds
    assert run.feed(lms.join("u1", "S1", 4)) == []
    assert run.feed(lms.leave("u1", "S2", 5)) == []  # L1 still holds
    leave1 = lms.leave("u1", "S1", 6)  # the last one goes
    assert run.feed(leave1) == [remove("c1", "g1", "u1", "left_segment", ["L1"], leave1)]
    assert run.agrees() == set()


def test_link_ids_list_every_justifying_link(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L2", "c1", "S2", "g1", 1), lms.link("L1", "c1", "S1", "g1", 1))
    run.feed(lms.link("L3", "c1", "S1", "g2", 1))  # another group: its own pair
    join1, join2 = lms.join("u1", "S1", 2), lms.join("u1", "S2", 2)
    run.feed(join1, join2)
    enrol = lms.enrol("u1", "c1", 3)
    assert sorted(run.feed(enrol)) == [
        add("c1", "g1", "u1", "enrolled", ["L1", "L2"], enrol),
        add("c1", "g2", "u1", "enrolled", ["L3"], enrol),
    ]
    unenrol = lms.unenrol("u1", "c1", 4)
    assert sorted(run.feed(unenrol)) == [
        remove("c1", "g1", "u1", "unenrolled", ["L1", "L2"], unenrol),
        remove("c1", "g2", "u1", "unenrolled", ["L3"], unenrol),
    ]
    run.agrees()


def test_link_deletions_under_an_or(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1), lms.join("u1", "S2", 1))
    l1, l2 = lms.link("L1", "c1", "S1", "g1", 2), lms.link("L2", "c1", "S2", "g1", 2)
    # One batch each: the add names L1, the only link it has seen; L2 then changes nothing.
    assert run.each(l1, l2) == [add("c1", "g1", "u1", "link_created", ["L1"], l1)]
    assert run.feed(lms.unlink("L2", 3)) == []
    l2_again = lms.link("L2", "c1", "S2", "g1", 4)
    assert run.feed(l2_again) == []
    assert run.feed(lms.unlink("L1", 5)) == []
    unlink2 = lms.unlink("L2", 6)
    assert run.feed(unlink2) == [remove("c1", "g1", "u1", "link_deleted", ["L2"], unlink2)]
    run.agrees()


def test_segment_deletion_under_an_or_keeps_users_of_the_other_segment(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.link("L2", "c1", "S2", "g1", 1))
    for u in ("u1", "u2"):
        run.feed(lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))
    run.feed(lms.join("u2", "S2", 1))
    deletion = lms.seg_del("S1", 5)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "segment_deleted", ["L1"], deletion)]
    assert run.agrees() == {("site-a", "c1", "g1", "u2")}


def test_newer_created_moves_members_to_the_new_course_and_group(run: Run) -> None:
    lms = Lms()
    link = lms.link("L1", "c1", "S1", "g1", 1)
    people = [lms.join(u, "S1", 1) for u in ("u1", "u2", "u3")]
    people += [lms.enrol(u, c, 1) for u, c in (("u1", "c1"), ("u1", "c2"), ("u2", "c1"))]
    people += [lms.enrol("u2", "c2", 1), lms.enrol("u3", "c2", 1)]
    run.feed(*people)
    assert sorted(run.feed(link)) == [
        add("c1", "g1", u, "link_created", ["L1"], link) for u in ("u1", "u2")
    ]
    move = lms.link("L1", "c2", "S1", "g2", 5)
    assert sorted(run.feed(move)) == [
        add("c2", "g2", u, "link_created", ["L1"], move) for u in ("u1", "u2", "u3")
    ] + [remove("c1", "g1", u, "link_deleted", ["L1"], move) for u in ("u1", "u2")]
    assert run.feed(lms.link("L1", "c3", "S1", "g3", 3)) == []  # an older move: nothing
    # The link now lives on c2: enrolling in c1 does nothing, in c2 adds.
    assert run.feed(lms.enrol("u4", "c1", 6), lms.join("u4", "S1", 6)) == []
    enrol = lms.enrol("u4", "c2", 7)
    assert run.feed(enrol) == [add("c2", "g2", "u4", "enrolled", ["L1"], enrol)]
    unlink = lms.unlink("L1", 8)
    assert sorted(run.feed(unlink)) == [
        remove("c2", "g2", u, "link_deleted", ["L1"], unlink) for u in ("u1", "u2", "u3", "u4")
    ]
    run.agrees()


def test_moving_the_segment_keeps_members_of_both(run: Run) -> None:
    lms = Lms()
    run.feed(*[lms.enrol(u, "c1", 1) for u in ("both", "old", "new")])
    run.feed(lms.join("both", "S1", 1), lms.join("both", "S2", 1))
    run.feed(lms.join("old", "S1", 1), lms.join("new", "S2", 1))
    link = lms.link("L1", "c1", "S1", "g1", 2)
    assert sorted(run.feed(link)) == [
        add("c1", "g1", u, "link_created", ["L1"], link) for u in ("both", "old")
    ]
    move = lms.link("L1", "c1", "S2", "g1", 3)
    assert sorted(run.feed(move)) == [
        add("c1", "g1", "new", "link_created", ["L1"], move),
        remove("c1", "g1", "old", "link_deleted", ["L1"], move),
    ]
    # Leaving the old segment no longer matters; leaving the new one does.
    assert run.feed(lms.leave("both", "S1", 4)) == []
    leave = lms.leave("both", "S2", 5)
    assert run.feed(leave) == [remove("c1", "g1", "both", "left_segment", ["L1"], leave)]
    run.agrees()


def test_moving_one_of_two_links_keeps_the_pair_the_other_holds(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1))
    l1, l2 = lms.link("L1", "c1", "S1", "g1", 2), lms.link("L2", "c1", "S1", "g1", 2)
    assert run.each(l1, l2) == [add("c1", "g1", "u1", "link_created", ["L1"], l1)]
    move = lms.link("L1", "c1", "S1", "g2", 3)
    assert run.feed(move) == [add("c1", "g2", "u1", "link_created", ["L1"], move)]
    move_back = lms.link("L1", "c1", "S1", "g1", 4)
    assert run.feed(move_back) == [remove("c1", "g2", "u1", "link_deleted", ["L1"], move_back)]
    unlink2 = lms.unlink("L2", 5)
    assert run.feed(unlink2) == []  # L1 is back in g1
    unlink1 = lms.unlink("L1", 6)
    assert run.feed(unlink1) == [remove("c1", "g1", "u1", "link_deleted", ["L1"], unlink1)]
    run.agrees()


def test_link_recreated_in_place_then_deleted_then_recreated_elsewhere(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1), lms.enrol("u1", "c2", 1))
    link = lms.link("L1", "c1", "S1", "g1", 2)
    assert run.feed(link) == [add("c1", "g1", "u1", "link_created", ["L1"], link)]
    assert run.feed(lms.link("L1", "c1", "S1", "g1", 2.5)) == []  # created again, same place
    unlink = lms.unlink("L1", 3)
    assert run.feed(unlink) == [remove("c1", "g1", "u1", "link_deleted", ["L1"], unlink)]
    elsewhere = lms.link("L1", "c2", "S1", "g9", 4)
    assert run.feed(elsewhere) == [add("c2", "g9", "u1", "link_created", ["L1"], elsewhere)]
    # A `deleted` delivered before any `created` of the link, then an older `created`: nothing.
    assert run.feed(lms.unlink("L7", 9), lms.link("L7", "c1", "S1", "g1", 8)) == []
    assert run.agrees() == {("site-a", "c2", "g9", "u1")}
