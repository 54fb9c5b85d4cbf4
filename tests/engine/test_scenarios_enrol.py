"""Scenarios of segment sync enrolment with group sync beside it, on SQLite and PostgreSQL:
the two methods working together (the issue's demo), enrolment methods, roles and on_leave,
reasons, the enrol links' own id namespace, chunked backfill with a crash, and the brake."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.engine_harness import CFG, records_of
from tests.support.scenario_kit import Lms, Run, add, enrol, migrated, remove, unenrol
from worker.engine.apply import BatchConfig, apply_batch
from worker.engine.brake import BrakeLimits
from worker.engine.records import decode
from worker.store.sql_base import SqlStore

CHUNK = BatchConfig(group_id="g", chunk=100)
BRAKED = BatchConfig(
    group_id="g", chunk=100, brake=BrakeLimits(max_removals=500, max_share=0.5, min_removals=50)
)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    with migrated(db_url) as store:
        yield store


def test_join_enrols_then_the_lms_enrolment_joins_the_group(store: SqlStore) -> None:
    """The issue's demo: the segment member is enrolled by segment sync; group sync waits
    for the LMS to report that enrolment, then adds the user to the linked group."""
    run, lms = Run(store), Lms()
    assert run.feed(lms.enrol_link("E1", "c1", "S1", 1), lms.link("L1", "c1", "S1", "g1", 1)) == []
    assert run.enrols() == []
    join = lms.join("u1", "S1", 2)
    assert run.feed(join) == []  # not enrolled yet: no group command
    assert run.enrols() == [enrol("c1", "u1", "joined_segment", ["E1"], join)]
    reported = lms.enrol("u1", "c1", 3, method="segment_sync:E1")
    assert run.feed(reported) == [add("c1", "g1", "u1", "enrolled", ["L1"], reported)]
    assert run.enrols() == []
    run.agrees()
    run.agrees_enrol()


def test_a_user_enrolled_twice_keeps_the_group_when_segment_sync_unenrols(store: SqlStore) -> None:
    run, lms = Run(store), Lms()
    setup = [
        lms.enrol_link("E1", "c1", "S1", 1),
        lms.link("L1", "c1", "S2", "g1", 1),
        *(lms.join(u, s, 1) for u in ("both", "sync") for s in ("S1", "S2")),
        lms.enrol("both", "c1", 2, method="manual"),
        *(lms.enrol(u, "c1", 2, method="segment_sync:E1") for u in ("both", "sync")),
    ]
    run.feed(*setup)
    assert sorted(c.user for c in run.enrols()) == ["both", "sync"]
    unlink = lms.enrol_unlink("E1", 3)
    assert run.feed(unlink) == []  # group sync never assumes a command was applied
    assert run.enrols() == [
        unenrol("c1", u, "link_deleted", ["E1"], unlink) for u in ("both", "sync")
    ]
    gone = [lms.unenrol(u, "c1", 4, method="segment_sync:E1") for u in ("both", "sync")]
    # The manual enrolment still holds "both" in the course, so in the group.
    assert run.feed(*gone) == [remove("c1", "g1", "sync", "unenrolled", ["L1"], gone[1])]
    run.agrees()
    run.agrees_enrol()


def test_an_old_method_does_not_hide_a_newer_one(store: SqlStore) -> None:
    run, lms = Run(store), Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1), lms.join("u1", "S1", 1))
    manual = lms.enrol("u1", "c1", 5, method="manual")
    assert run.feed(manual) == [add("c1", "g1", "u1", "enrolled", ["L1"], manual)]
    # An older "self" enrolment ended: the manual one still holds.
    assert run.feed(lms.unenrol("u1", "c1", 2, method="self")) == []
    # Without a method it is another fact again: nothing changes either.
    assert run.feed(lms.unenrol("u1", "c1", 6)) == []
    end = lms.unenrol("u1", "c1", 7, method="manual")
    assert run.feed(end) == [remove("c1", "g1", "u1", "unenrolled", ["L1"], end)]
    run.agrees()


def test_roles_and_on_leave_come_from_the_justifying_links(store: SqlStore) -> None:
    run, lms = Run(store), Lms()
    links = [
        lms.enrol_link("E1", "c1", "S1", 1),
        lms.enrol_link("E2", "c1", "S2", 1, role="teacher", on_leave="suspend"),
    ]
    j1, j2 = lms.join("u1", "S1", 2), lms.join("u1", "S2", 2)
    run.feed(*links, j1, j2)
    (cmd,) = run.enrols()
    assert (cmd.kind, cmd.links, cmd.roles) == ("enrol", ("E1", "E2"), ("student", "teacher"))
    assert cmd.on_leave == "suspend"
    # Leaving S2 keeps the enrolment (E1 still holds); leaving S1 then unenrols, and only
    # E1 justified it then: no suspend.
    assert run.feed(lms.leave("u1", "S2", 3)) == [] and run.enrols() == []
    leave = lms.leave("u1", "S1", 4)
    run.feed(leave)
    assert run.enrols() == [unenrol("c1", "u1", "left_segment", ["E1"], leave)]
    # Back in S2 only: enrolled as teacher; a segment deletion unenrols with suspend.
    back = lms.join("u1", "S2", 5)
    run.feed(back)
    assert run.enrols() == [
        enrol("c1", "u1", "joined_segment", ["E2"], back, ["teacher"], "suspend")
    ]
    deletion = lms.seg_del("S2", 6)
    run.feed(deletion)
    assert run.enrols() == [
        unenrol("c1", "u1", "segment_deleted", ["E2"], deletion, ["teacher"], "suspend")
    ]
    run.agrees_enrol()


def test_reasons_moves_and_course_deletion(store: SqlStore) -> None:
    run, lms = Run(store), Lms()
    run.feed(lms.join("u1", "S1", 1))
    created = lms.enrol_link("E1", "c1", "S1", 2)
    run.feed(created)
    assert run.enrols() == [enrol("c1", "u1", "link_created", ["E1"], created)]
    moved = lms.enrol_link("E1", "c2", "S1", 3)
    run.feed(moved)
    assert run.enrols() == [
        unenrol("c1", "u1", "link_deleted", ["E1"], moved),
        enrol("c2", "u1", "link_created", ["E1"], moved),
    ]
    gone = lms.crs_del("c2", 4)
    run.feed(gone)
    assert run.enrols() == [unenrol("c2", "u1", "course_deleted", ["E1"], gone)]
    # A link created before the deletion stays dead; one created after it enrols again.
    assert run.feed(lms.enrol_link("E2", "c2", "S1", 4)) == [] and run.enrols() == []
    again = lms.enrol_link("E3", "c2", "S1", 5)
    run.feed(again)
    assert run.enrols() == [enrol("c2", "u1", "link_created", ["E3"], again)]
    run.agrees_enrol()


def test_enrol_link_ids_are_a_namespace_of_their_own(store: SqlStore) -> None:
    run, lms = Run(store), Lms()
    both = [
        lms.link("L1", "c1", "S1", "g1", 1),
        lms.enrol_link("L1", "c1", "S1", 1),
        lms.join("u1", "S1", 1),
        lms.enrol("u1", "c1", 1, method="manual"),
    ]
    assert run.feed(*both) == [add("c1", "g1", "u1", "enrolled", ["L1"], both[3])]
    assert [c.kind for c in run.enrols()] == ["enrol"]
    unlink = lms.enrol_unlink("L1", 2)
    assert run.feed(unlink) == []  # the group link L1 is untouched
    assert run.enrols() == [unenrol("c1", "u1", "link_deleted", ["L1"], unlink)]
    gunlink = lms.unlink("L1", 3)
    assert run.feed(gunlink) == [remove("c1", "g1", "u1", "link_deleted", ["L1"], gunlink)]
    assert run.enrols() == []
    run.agrees()
    run.agrees_enrol()


class Crash(Exception):
    pass


def test_backfill_in_chunks_survives_a_crash_between_chunks(store: SqlStore) -> None:
    run, lms = Run(store, CHUNK), Lms()
    users = [f"user-{i:04d}" for i in range(1000)]
    run.feed(*(lms.join(u, "S1", 1) for u in users), lms.join("other", "S2", 1))
    link = lms.enrol_link("E1", "c1", "S1", 2)
    done = 0
    with pytest.raises(Crash), store.transaction() as tx:

        def checkpoint() -> None:
            nonlocal done
            tx.commit()
            done += 1
            if done == 4:
                raise Crash

        apply_batch(tx, [decode(r) for r in records_of([link])], CHUNK, checkpoint)
    partial = run.enrols()
    assert len(partial) == 400  # four chunks of 100 committed with their commands
    run.feed(link)  # the event is re-delivered: the backfill continues where it stopped
    rest = run.enrols()
    per_user = Counter(c.user for c in partial + rest)
    assert sorted(per_user) == users and set(per_user.values()) == {1}
    assert {c.reason for c in partial + rest} == {"link_created"}
    run.agrees_enrol()


def test_the_brake_holds_mass_unenrols_per_course(store: SqlStore) -> None:
    run, lms = Run(store, BRAKED), Lms()
    run.feed(lms.enrol_link("E1", "c1", "S1", 1), lms.enrol_link("E2", "c2", "S2", 1))
    run.feed(*(lms.join(f"u{i:03d}", "S1", 2) for i in range(80)))
    run.feed(*(lms.join(f"u{i:03d}", "S2", 2) for i in range(10)))
    assert len(run.enrols()) == 90
    # 10 of 80 leave one by one: published. Deleting E1 would unenrol the other 70: held.
    run.feed(*(lms.leave(f"u{i:03d}", "S1", 3) for i in range(10)), batch=1)
    assert len(run.enrols()) == 10
    unlink = lms.enrol_unlink("E1", 4)
    small = lms.enrol_unlink("E2", 4)  # 10 of 10 but under the 50 floor: published
    run.feed(unlink, small, batch=1)
    assert [(c.course, c.kind) for c in run.enrols()] == [("c2", "unenrol")] * 10
    (batch,) = store.held_batches("held")
    assert (batch.cause_event_id, batch.commands) == (unlink.id, 70)
    assert "course c1 enrolments: 70 of 70" in batch.detail
    # E1 is created again: its enrols queue behind the held unenrols of the same pairs.
    run.feed(lms.enrol_link("E1", "c1", "S1", 5))
    assert run.enrols() == []
    assert store.close_held(batch.id, release=True) == 140
    released = run.enrols()
    assert [c.kind for c in released] == ["unenrol"] * 70 + ["enrol"] * 70
    assert {c.user for c in released[:70]} == {f"u{i:03d}" for i in range(10, 80)}
    run.agrees_enrol()


def test_replay_changes_nothing(store: SqlStore) -> None:
    run, lms = Run(store, CFG), Lms()
    history = [
        lms.enrol_link("E1", "c1", "S1", 1),
        *(lms.join(f"u{i}", "S1", 1 + i) for i in range(7)),
        lms.leave("u3", "S1", 9),
        lms.enrol_unlink("E1", 10),
        lms.enrol_link("E1", "c1", "S1", 11),
    ]
    run.feed(*history, batch=3)
    first = run.enrols()
    # 7 enrols and u3's unenrol; the last batch deletes and re-creates E1: no net change.
    assert sorted((c.user, c.kind) for c in first) == sorted(
        [(f"u{i}", "enrol") for i in range(7)] + [("u3", "unenrol")]
    )
    run.feed(*history, batch=2)
    assert run.enrols() == []
    run.agrees_enrol()
