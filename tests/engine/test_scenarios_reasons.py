"""Scenarios: every reason (but `resync`) comes from its cause, and caused_by is that event.

Table-driven tests play each case on its own source in one store and compare the whole
table at once, so that a failure shows every case that went wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from schemas.commands import REASONS
from tests.support.reference import Ev
from tests.support.scenario_kit import Cmd, Lms, Run, add, migrated, remove


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def _all_in(lms: Lms) -> list[Ev]:
    return [lms.link("L1", "c1", "S1", "g1", 1), lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1)]


# reason: (events before, one batch each; the causing event)
CASES: dict[str, tuple[Callable[[Lms], list[Ev]], Callable[[Lms], Ev]]] = {
    "enrolled": (
        lambda lms: [lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1)],
        lambda lms: lms.enrol("u1", "c1", 2),
    ),
    "joined_segment": (
        lambda lms: [lms.link("L1", "c1", "S1", "g1", 1), lms.enrol("u1", "c1", 1)],
        lambda lms: lms.join("u1", "S1", 2),
    ),
    "link_created": (
        lambda lms: [lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1)],
        lambda lms: lms.link("L1", "c1", "S1", "g1", 2),
    ),
    "unenrolled": (_all_in, lambda lms: lms.unenrol("u1", "c1", 2)),
    "left_segment": (_all_in, lambda lms: lms.leave("u1", "S1", 2)),
    "link_deleted": (_all_in, lambda lms: lms.unlink("L1", 2)),
    "segment_deleted": (_all_in, lambda lms: lms.seg_del("S1", 2)),
    "group_deleted": (_all_in, lambda lms: lms.grp_del("c1", "g1", 2)),
    "course_deleted": (_all_in, lambda lms: lms.crs_del("c1", 2)),
}
ADD_REASONS = {"enrolled", "joined_segment", "link_created"}


def test_every_reason_but_resync_has_a_case() -> None:
    assert set(CASES) == REASONS - {"resync"}


def test_each_reason_comes_from_its_cause(run: Run) -> None:
    got: dict[str, list[Cmd]] = {}
    want: dict[str, list[Cmd]] = {}
    for reason, (before, cause) in CASES.items():
        lms = Lms(f"site-{reason}")
        setup = run.each(*before(lms))
        assert [c.kind for c in setup] == ([] if reason in ADD_REASONS else ["add"]), reason
        ev = cause(lms)
        got[reason] = run.feed(ev)
        make = add if reason in ADD_REASONS else remove
        want[reason] = [make("c1", "g1", "u1", reason, ["L1"], ev)]
    assert got == want
    run.agrees()


def test_an_unrelated_later_event_of_the_user_is_not_the_cause(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.enrol("u1", "c1", 1))
    join = lms.join("u1", "S1", 2)
    other = lms.enrol("u1", "c2", 3)  # no link on c2: explains nothing
    assert run.feed(join, other) == [add("c1", "g1", "u1", "joined_segment", ["L1"], join)]
    leave = lms.leave("u1", "S1", 4)
    other2 = lms.join("u1", "S9", 5)
    assert run.feed(leave, other2) == [remove("c1", "g1", "u1", "left_segment", ["L1"], leave)]
    run.agrees()


def test_each_pair_gets_its_own_cause_in_one_batch(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.link("L2", "c2", "S2", "g2", 1))
    run.feed(lms.enrol("u1", "c1", 1), lms.join("u2", "S2", 1))
    enrol_later = lms.enrol("u2", "c2", 2)
    join = lms.join("u1", "S1", 2)
    assert sorted(run.feed(enrol_later, join)) == [
        add("c1", "g1", "u1", "joined_segment", ["L1"], join),
        add("c2", "g2", "u2", "enrolled", ["L2"], enrol_later),
    ]
    crs, grp = lms.crs_del("c1", 3), lms.grp_del("c2", "g2", 3)
    assert sorted(run.feed(grp, crs)) == [
        remove("c1", "g1", "u1", "course_deleted", ["L1"], crs),
        remove("c2", "g2", "u2", "group_deleted", ["L2"], grp),
    ]
    # A course deletion removes every member of every group of the course, with its own id.
    users = [f"u{i}" for i in range(3, 10)]  # more than the harness's chunk of 3
    run.feed(lms.link("L3", "c3", "S1", "g1", 1), lms.link("L4", "c3", "S1", "g2", 1))
    run.feed(*[e for u in users for e in (lms.enrol(u, "c3", 1), lms.join(u, "S1", 1))])
    deletion = lms.crs_del("c3", 2)
    assert sorted(run.feed(deletion)) == sorted(
        remove("c3", g, u, "course_deleted", [link], deletion)
        for u in users
        for g, link in (("g1", "L3"), ("g2", "L4"))
    )
    assert run.agrees() == set()


MARK_OF: dict[str, Callable[[Lms, float], Ev]] = {
    "course_deleted": lambda lms, at: lms.crs_del("c1", at),
    "group_deleted": lambda lms, at: lms.grp_del("c1", "g1", at),
    "segment_deleted": lambda lms, at: lms.seg_del("S1", at),
}


def test_removal_is_blamed_on_the_deletion_in_its_batch(run: Run) -> None:
    """u1 is in (c1, g1). One batch: a newer enrolment (or membership) of u1, a no-op for the
    state, then a deletion that removes u1. The `created`/`added` event cannot be the cause
    (an enrollment.created is never why someone is "unenrolled"): the deletion is."""
    got: dict[str, list[Cmd]] = {}
    want: dict[str, list[Cmd]] = {}
    for reason, refresh in (
        ("course_deleted", "enrol"),
        ("group_deleted", "enrol"),
        ("segment_deleted", "join"),
    ):
        lms = Lms(f"site-{reason}")
        assert len(run.each(*_all_in(lms))) == 1
        again = lms.enrol("u1", "c1", 5) if refresh == "enrol" else lms.join("u1", "S1", 5)
        deletion = MARK_OF[reason](lms, 6)
        got[reason] = run.feed(again, deletion)
        want[reason] = [remove("c1", "g1", "u1", reason, ["L1"], deletion)]
    assert got == want
    run.agrees()


def test_an_add_is_never_blamed_on_a_deletion(run: Run) -> None:
    """One batch: an old deletion (at 3), then the link (at 5) that adds u1 (in since 4)."""
    got: dict[str, list[Cmd]] = {}
    want: dict[str, list[Cmd]] = {}
    for reason, mark in MARK_OF.items():
        lms = Lms(f"site-{reason}")
        run.feed(lms.enrol("u1", "c1", 4), lms.join("u1", "S1", 4))
        deletion, link = mark(lms, 3), lms.link("L1", "c1", "S1", "g1", 5)
        got[reason] = run.feed(deletion, link)
        want[reason] = [add("c1", "g1", "u1", "link_created", ["L1"], link)]
    assert got == want
    run.agrees()
