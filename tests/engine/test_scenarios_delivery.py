"""Scenarios: out-of-order delivery, duplicates and replays add no command; sources are apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.engine_harness import records_of
from tests.support.reference import Ev
from tests.support.scenario_kit import (
    Lms,
    Run,
    add,
    apply_once,
    brief,
    migrated,
    remove,
)


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store)


def _story(lms: Lms) -> list[Ev]:
    """link, join, enrol, unenrol, re-enrol: in order, add / remove / add."""
    return [
        lms.link("L1", "c1", "S1", "g1", 1),
        lms.join("u1", "S1", 2),
        lms.enrol("u1", "c1", 3),
        lms.unenrol("u1", "c1", 4),
        lms.enrol("u1", "c1", 5),
    ]


def test_in_order_delivery_follows_every_change_reversed_sees_only_the_end(run: Run) -> None:
    link, join, enrol, unenrol, re_enrol = _story(Lms("in-order"))
    assert run.each(link, join, enrol, unenrol, re_enrol) == [
        add("c1", "g1", "u1", "enrolled", ["L1"], enrol),
        remove("c1", "g1", "u1", "unenrolled", ["L1"], unenrol),
        add("c1", "g1", "u1", "enrolled", ["L1"], re_enrol),
    ]
    link, join, enrol, unenrol, re_enrol = _story(Lms("reversed"))
    # re_enrol is the newest enrolment event: the older two are stale when they come.
    assert run.each(re_enrol, unenrol, enrol, join, link) == [
        add("c1", "g1", "u1", "link_created", ["L1"], link)
    ]
    assert run.agrees() == {("in-order", "c1", "g1", "u1"), ("reversed", "c1", "g1", "u1")}


def test_stale_removal_delivered_late_changes_nothing(run: Run) -> None:
    link, join, enrol, unenrol, re_enrol = _story(Lms())
    assert run.each(link, join, re_enrol) == [add("c1", "g1", "u1", "enrolled", ["L1"], re_enrol)]
    assert run.each(unenrol, enrol) == []
    assert run.feed(unenrol, enrol) == []
    run.agrees()


def test_duplicates_in_one_batch(run: Run) -> None:
    link, join, enrol, _, _ = _story(Lms())
    assert run.feed(link) == []
    result = apply_once(run.store, records_of([join, enrol, enrol, join, enrol]))
    assert result.counts["events.duplicate"] == 3
    assert result.counts["commands.add"] == 1
    # Enrolment and membership came in one batch: either may be named as the cause.
    assert [brief(c) for c in run.new()] in (
        [add("c1", "g1", "u1", "enrolled", ["L1"], enrol)],
        [add("c1", "g1", "u1", "joined_segment", ["L1"], join)],
    )


def test_duplicates_in_later_batches(run: Run) -> None:
    story = _story(Lms())
    assert len(run.each(*story)) == 3
    for batch in (1, 2, len(story)):
        assert run.feed(*story, batch=batch) == []
    result = apply_once(run.store, records_of(story))
    assert result.counts["events.duplicate"] == len(story)
    assert result.commands == []
    assert run.new() == []
    run.agrees()


def test_a_reused_event_id_is_the_same_event_whatever_it_says(run: Run) -> None:
    lms = Lms()
    link, join, enrol = (
        lms.link("L1", "c1", "S1", "g1", 1),
        lms.join("u1", "S1", 1),
        lms.enrol("u1", "c1", 1),
    )
    assert len(run.each(link, join, enrol)) == 1
    # Same (source, id) as `enrol`, other content: already seen, ignored.
    impostor = Ev(enrol.source, enrol.id, "lms.enrollment.deleted", enrol.time_us + 1, enrol.data)
    assert run.feed(impostor) == []
    assert run.agrees([link, join, enrol]) == {("site-a", "c1", "g1", "u1")}


def _rich_history(lms: Lms) -> list[Ev]:
    out = [lms.link("L1", "c1", "S1", "g1", 1), lms.link("L2", "c1", "S2", "g1", 2)]
    out += [lms.link("L3", "c2", "S1", "g3", 3)]
    for i in range(6):
        u = f"u{i}"
        out += [lms.enrol(u, "c1", 1 + i), lms.join(u, "S1" if i % 2 else "S2", 2 + i)]
        out += [lms.enrol(u, "c2", 3 + i)]
    out += [lms.leave("u1", "S1", 20), lms.unenrol("u2", "c1", 20), lms.unlink("L2", 21)]
    out += [lms.link("L3", "c1", "S2", "g2", 22), lms.grp_del("c1", "g1", 2), lms.seg_del("S2", 5)]
    out += [lms.enrol("u4", "c1", 25), lms.join("u4", "S2", 26), lms.crs_del("c2", 30)]
    return out


def test_replaying_all_records_emits_nothing_new(run: Run) -> None:
    for batch in (1, 4, 100):
        history = _rich_history(Lms(f"site-{batch}"))
        assert run.feed(*history, batch=batch) != []
        final = run.agrees()
        for again in (1, 7, len(history)):
            assert run.feed(*history, batch=again) == [], (batch, again)
            assert run.feed(*reversed(history), batch=again) == [], (batch, again)
        assert run.agrees() == final


def test_any_order_reaches_the_reference(run: Run) -> None:
    history = _rich_history(Lms())
    run.feed(*reversed(history), batch=3)
    final = run.agrees(history)
    assert final  # the history leaves some users in groups
    assert run.feed(*history, batch=5) == []


def test_two_sources_with_the_same_ids_never_meet(run: Run) -> None:
    a, b = Lms("site-a"), Lms("site-b")
    # The same story on both sites: same event ids, same user/course/segment/group/link ids.
    for lms in (a, b):
        lms.link("L1", "c1", "S1", "g1", 1)
        lms.enrol("u1", "c1", 1)
        lms.join("u1", "S1", 1)
    assert run.each(*a.history) == [add("c1", "g1", "u1", "joined_segment", ["L1"], "e3")]
    assert [c["source"] for c in run.raw()] == ["site-a"]
    # site-b's events carry the ids site-a used: they are not duplicates.
    assert run.each(*b.history[1:]) == []  # no link on site-b yet
    assert run.feed(b.history[0]) == [add("c1", "g1", "u1", "link_created", ["L1"], "e1")]
    ids = [c["id"] for c in run.raw()]
    assert [c["source"] for c in run.raw()] == ["site-a", "site-b"] and len(set(ids)) == 2
    # A deletion on one site leaves the other alone.
    deletion = b.crs_del("c1", 5)
    assert run.feed(deletion) == [remove("c1", "g1", "u1", "course_deleted", ["L1"], deletion)]
    assert run.raw()[-1]["source"] == "site-b"
    leave = a.leave("u1", "S1", 6)
    assert run.feed(leave) == [remove("c1", "g1", "u1", "left_segment", ["L1"], leave)]
    assert run.raw()[-1]["source"] == "site-a"
    assert run.agrees(a.history + b.history) == set()
    # site-b brings its course back after the deletion: site-a is not touched.
    b.link("L1", "c1", "S1", "g1", 7)
    b.enrol("u1", "c1", 7)
    assert [c.kind for c in run.feed(*b.history[-2:])] == ["add"]
    assert run.raw()[-1]["source"] == "site-b"
    assert run.agrees(a.history + b.history) == {("site-b", "c1", "g1", "u1")}
