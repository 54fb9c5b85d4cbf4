"""Scenarios: segment, group and course deletions kill what they cover "at or after" its time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.reference import Ev
from tests.support.scenario_kit import Lms, Run, add, migrated, remove


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def test_course_deletion_kills_enrolments_at_or_before_its_time(run: Run) -> None:
    lms = Lms()
    # The link (at 20) is newer than the deletion (at 10): only the enrolments are at stake.
    setup = [lms.link("L1", "c1", "S1", "g1", 20)] + [lms.join(u, "S1", 1) for u in "abc"]
    run.feed(*setup)
    before, same, after = (
        lms.enrol("a", "c1", 9),
        lms.enrol("b", "c1", 10),
        lms.enrol("c", "c1", 11),
    )
    assert sorted(run.each(before, same, after)) == [
        add("c1", "g1", u, "enrolled", ["L1"], e)
        for u, e in (("a", before), ("b", same), ("c", after))
    ]
    deletion = lms.crs_del("c1", 10)
    assert sorted(run.feed(deletion)) == [
        remove("c1", "g1", "a", "course_deleted", ["L1"], deletion),
        remove("c1", "g1", "b", "course_deleted", ["L1"], deletion),
    ]
    assert run.agrees() == {("site-a", "c1", "g1", "c")}


def test_course_deletion_delivered_first_still_kills_equal_time_enrolment(run: Run) -> None:
    lms = Lms()
    assert run.feed(lms.crs_del("c1", 10)) == []
    run.feed(lms.link("L1", "c1", "S1", "g1", 20), lms.join("a", "S1", 1), lms.join("b", "S1", 1))
    assert run.each(lms.enrol("a", "c1", 10)) == []  # same time as the deletion: dead
    late = lms.enrol("b", "c1", 10.000001)
    assert run.each(late) == [add("c1", "g1", "b", "enrolled", ["L1"], late)]
    run.agrees()


def test_segment_deletion_kills_memberships_at_or_before_its_time(run: Run) -> None:
    lms = Lms()
    setup = [lms.link("L1", "c1", "S1", "g1", 20)] + [lms.enrol(u, "c1", 1) for u in "abc"]
    run.feed(*setup)
    run.each(lms.join("a", "S1", 9), lms.join("b", "S1", 10), lms.join("c", "S1", 11))
    deletion = lms.seg_del("S1", 10)
    assert sorted(run.feed(deletion)) == [
        remove("c1", "g1", "a", "segment_deleted", ["L1"], deletion),
        remove("c1", "g1", "b", "segment_deleted", ["L1"], deletion),
    ]
    assert run.each(lms.join("a", "S1", 10)) == []  # re-joined, but not after the deletion
    rejoin = lms.join("a", "S1", 12)
    assert run.each(rejoin) == [add("c1", "g1", "a", "joined_segment", ["L1"], rejoin)]
    assert run.agrees() == {("site-a", "c1", "g1", "a"), ("site-a", "c1", "g1", "c")}


MARKS: dict[str, Callable[[Lms, float], Ev]] = {
    "group_deleted": lambda lms, at: lms.grp_del("c1", "g1", at),
    "course_deleted": lambda lms, at: lms.crs_del("c1", at),
    "segment_deleted": lambda lms, at: lms.seg_del("S1", at),
}


def test_deletion_at_the_link_time_kills_the_link_strictly_before_does_not(run: Run) -> None:
    for reason, mark in MARKS.items():
        lms = Lms(f"site-{reason}")
        link = lms.link("L1", "c1", "S1", "g1", 10)
        # Enrolments and memberships are newer than every deletion: only the link is at stake.
        run.feed(*[e for u in "ab" for e in (lms.enrol(u, "c1", 30), lms.join(u, "S1", 30))])
        assert sorted(run.feed(link)) == [
            add("c1", "g1", u, "link_created", ["L1"], link) for u in "ab"
        ]
        assert run.feed(mark(lms, 9)) == [], reason  # strictly before the link: no effect
        at_link = mark(lms, 10)
        assert sorted(run.feed(at_link)) == [
            remove("c1", "g1", u, reason, ["L1"], at_link) for u in "ab"
        ]
        assert run.feed(mark(lms, 8)) == [], reason  # an older deletion changes nothing
        # A newer id at the same time is still "at" the deletion.
        assert run.feed(lms.link("L1", "c1", "S1", "g1", 10, "e99")) == [], reason
        again = lms.link("L1", "c1", "S1", "g1", 11)
        assert sorted(run.feed(again)) == [
            add("c1", "g1", u, "link_created", ["L1"], again) for u in "ab"
        ]
    assert len(run.agrees()) == 6


def test_deletion_delivered_before_an_equal_time_link(run: Run) -> None:
    for reason, mark in MARKS.items():
        lms = Lms(f"site-{reason}")
        run.feed(lms.enrol("a", "c1", 30), lms.join("a", "S1", 30), mark(lms, 10))
        assert run.feed(lms.link("L1", "c1", "S1", "g1", 10)) == [], reason
        assert run.feed(lms.link("L1", "c1", "S1", "g1", 9)) == [], reason
        after = lms.link("L1", "c1", "S1", "g1", 10.5)
        assert run.feed(after) == [add("c1", "g1", "a", "link_created", ["L1"], after)]
    assert len(run.agrees()) == 3


def test_link_created_after_a_group_deletion_is_active_again(run: Run) -> None:
    lms = Lms()
    link = lms.link("L1", "c1", "S1", "g1", 1)
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1))
    assert run.feed(link) == [add("c1", "g1", "u1", "link_created", ["L1"], link)]
    deletion = lms.grp_del("c1", "g1", 5)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "group_deleted", ["L1"], deletion)]
    # Another link into g1 from before the deletion, delivered late: dead too.
    assert run.feed(lms.link("L2", "c1", "S1", "g1", 4)) == []
    # The group deletion does not touch enrolments or memberships: re-linking brings u1 back.
    relink = lms.link("L1", "c1", "S1", "g1", 6)
    assert run.feed(relink) == [add("c1", "g1", "u1", "link_created", ["L1"], relink)]
    assert run.feed(lms.grp_del("c1", "g1", 3)) == []  # older deletion: nothing
    assert run.agrees() == {("site-a", "c1", "g1", "u1")}


def test_course_deletion_kills_enrolments_before_it_not_after(run: Run) -> None:
    lms = Lms()
    link = lms.link("L1", "c1", "S1", "g1", 1)
    run.feed(lms.join("u1", "S1", 1), lms.join("u2", "S1", 1), lms.enrol("u1", "c1", 1))
    enrol2 = lms.enrol("u2", "c1", 2)
    run.feed(link)
    assert run.feed(enrol2) == [add("c1", "g1", "u2", "enrolled", ["L1"], enrol2)]
    deletion = lms.crs_del("c1", 5)
    assert sorted(run.feed(deletion)) == [
        remove("c1", "g1", u, "course_deleted", ["L1"], deletion) for u in ("u1", "u2")
    ]
    # The course comes back (same id) with the link: enrolments from before the deletion are dead.
    assert run.feed(lms.link("L1", "c1", "S1", "g1", 6)) == []
    assert run.feed(lms.enrol("u1", "c1", 4)) == []  # newer than u1's fact, still before
    fresh = lms.enrol("u2", "c1", 6)
    assert run.feed(fresh) == [add("c1", "g1", "u2", "enrolled", ["L1"], fresh)]
    assert run.agrees() == {("site-a", "c1", "g1", "u2")}


def test_segment_deletion_kills_memberships_before_it_not_after(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.enrol("u2", "c1", 1), lms.join("u1", "S1", 1))
    link = lms.link("L1", "c1", "S1", "g1", 2)
    assert run.feed(link) == [add("c1", "g1", "u1", "link_created", ["L1"], link)]
    deletion = lms.seg_del("S1", 5)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "segment_deleted", ["L1"], deletion)]
    assert run.feed(lms.link("L1", "c1", "S1", "g1", 6)) == []  # members died with the segment
    assert run.feed(lms.join("u2", "S1", 5)) == []  # at the deletion time: dead
    join = lms.join("u2", "S1", 7)
    assert run.feed(join) == [add("c1", "g1", "u2", "joined_segment", ["L1"], join)]
    assert run.agrees() == {("site-a", "c1", "g1", "u2")}


def test_deletion_marks_keep_the_newest_time(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1))
    link = lms.link("L1", "c1", "S1", "g1", 7)
    assert run.feed(link) == [add("c1", "g1", "u1", "link_created", ["L1"], link)]
    assert run.feed(lms.grp_del("c1", "g1", 5)) == []
    deletion = lms.grp_del("c1", "g1", 10)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "group_deleted", ["L1"], deletion)]
    assert run.feed(lms.grp_del("c1", "g1", 3)) == []
    assert run.feed(lms.link("L1", "c1", "S1", "g1", 8)) == []  # still before the newest mark
    relink = lms.link("L1", "c1", "S1", "g1", 11)
    assert run.feed(relink) == [add("c1", "g1", "u1", "link_created", ["L1"], relink)]
    run.agrees()


def test_group_deletion_only_touches_its_own_group_and_course(run: Run) -> None:
    lms = Lms()
    run.feed(lms.enrol("u1", "c1", 1), lms.enrol("u1", "c2", 1), lms.join("u1", "S1", 1))
    run.feed(
        lms.link("L1", "c1", "S1", "g1", 1),
        lms.link("L2", "c1", "S1", "g2", 1),
        lms.link("L3", "c2", "S1", "g1", 1),
    )
    deletion = lms.grp_del("c1", "g1", 5)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "group_deleted", ["L1"], deletion)]
    assert run.agrees() == {("site-a", "c1", "g2", "u1"), ("site-a", "c2", "g1", "u1")}
