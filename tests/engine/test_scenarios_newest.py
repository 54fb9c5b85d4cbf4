"""Scenarios: each fact is decided by its newest event, by (time, then id).

Each test plays its story once per kind of fact (enrolment, membership, link), each kind on
its own source (sources never meet), so that one fresh store serves the three.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.reference import Ev
from tests.support.scenario_kit import Cmd, Lms, Run, add, migrated, remove


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


@dataclass(frozen=True)
class Fact:
    """The two other facts that make u1 desired in (c1, g1), then this fact's on/off events."""

    setup: Callable[[Lms], list[Ev]]
    on: Callable[[Lms, float, str], Ev]
    off: Callable[[Lms, float, str], Ev]
    why_on: str
    why_off: str


FACTS = {
    "enrolment": Fact(
        lambda lms: [lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1)],
        lambda lms, at, id_: lms.enrol("u1", "c1", at, id_),
        lambda lms, at, id_: lms.unenrol("u1", "c1", at, id_),
        "enrolled",
        "unenrolled",
    ),
    "membership": Fact(
        lambda lms: [lms.link("L1", "c1", "S1", "g1", 1), lms.enrol("u1", "c1", 1)],
        lambda lms, at, id_: lms.join("u1", "S1", at, id_),
        lambda lms, at, id_: lms.leave("u1", "S1", at, id_),
        "joined_segment",
        "left_segment",
    ),
    "link": Fact(
        lambda lms: [lms.enrol("u1", "c1", 1), lms.join("u1", "S1", 1)],
        lambda lms, at, id_: lms.link("L1", "c1", "S1", "g1", at, id_),
        lambda lms, at, id_: lms.unlink("L1", at, id_),
        "link_created",
        "link_deleted",
    ),
}


def _start(run: Run, kind: str, tag: str = "") -> tuple[Lms, Fact]:
    lms = Lms(f"site-{kind}{tag}")
    fact = FACTS[kind]
    assert run.each(*fact.setup(lms)) == []
    return lms, fact


def on_(fact: Fact, ev: Ev) -> Cmd:
    return add("c1", "g1", "u1", fact.why_on, ["L1"], ev)


def off_(fact: Fact, ev: Ev) -> Cmd:
    return remove("c1", "g1", "u1", fact.why_off, ["L1"], ev)


def test_newer_time_wins_and_older_events_change_nothing(run: Run) -> None:
    for kind in FACTS:
        lms, f = _start(run, kind)
        on5 = f.on(lms, 5, "x-on5")
        assert run.feed(on5) == [on_(f, on5)], kind
        assert run.feed(f.off(lms, 3, "x-off3")) == [], kind  # older than the `on`
        off7 = f.off(lms, 7, "x-off7")
        assert run.feed(off7) == [off_(f, off7)], kind
        assert run.feed(f.on(lms, 6, "x-on6")) == [], kind  # older than the `off`
        on8 = f.on(lms, 8, "x-on8")
        assert run.feed(on8) == [on_(f, on8)], kind
    assert len(run.agrees()) == 3


def test_newest_delivered_first_is_never_overridden(run: Run) -> None:
    for kind in FACTS:
        lms, f = _start(run, kind)
        # Newest first: off@9, then on@5, off@3, on@1: never in the group.
        events = [f.off(lms, 9, "x9"), f.on(lms, 5, "x5"), f.off(lms, 3, "x3"), f.on(lms, 1, "x1")]
        assert run.each(*events) == [], kind
    assert run.agrees() == set()


def test_equal_times_are_decided_by_id_on_wins(run: Run) -> None:
    for kind in FACTS:
        for order in ("on-first", "off-first", "one-batch"):
            lms, f = _start(run, kind, order)
            on, off = f.on(lms, 5, "x2"), f.off(lms, 5, "x1")  # "x2" > "x1": `on` wins
            if order == "on-first":
                got = run.each(on, off)
            elif order == "off-first":
                got = run.each(off, on)
            else:
                got = run.feed(off, on)
            assert got == [on_(f, on)], (kind, order)
    assert len(run.agrees()) == 9


def test_equal_times_are_decided_by_id_off_wins(run: Run) -> None:
    for kind in FACTS:
        lms, f = _start(run, kind)
        on, off = f.on(lms, 5, "x1"), f.off(lms, 5, "x2")  # "x2" > "x1": `off` wins
        assert run.feed(on) == [on_(f, on)], kind
        assert run.feed(off) == [off_(f, off)], kind
        assert run.feed(on) == [], kind  # redelivered: still older than the `off`
        lms, f = _start(run, kind, "-off-first")
        assert run.each(f.off(lms, 5, "x2"), f.on(lms, 5, "x1")) == [], kind
    assert run.agrees() == set()


def test_ids_at_equal_times_compare_as_strings(run: Run) -> None:
    for kind in FACTS:
        lms, f = _start(run, kind)
        # "e9" > "e10" as strings (not as numbers): the `on` is the newest.
        on, off = f.on(lms, 5, "e9"), f.off(lms, 5, "e10")
        assert run.each(off, on) == [on_(f, on)], kind
        assert run.each(off) == [], kind
    assert len(run.agrees()) == 3


def test_one_microsecond_later_wins_whatever_the_ids(run: Run) -> None:
    lms = Lms()
    run.each(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))
    enrol = lms.enrol("u1", "c1", 5, "b")
    unenrol = lms.unenrol("u1", "c1", 5.000001, "a")
    assert run.each(enrol) == [add("c1", "g1", "u1", "enrolled", ["L1"], enrol)]
    assert run.each(unenrol) == [remove("c1", "g1", "u1", "unenrolled", ["L1"], unenrol)]
    assert run.each(enrol) == []
    assert run.agrees() == set()
