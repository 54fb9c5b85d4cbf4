"""Scenarios: set-based backfill in chunks, and a crash between two committed chunks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.support.engine_harness import apply_in_batches, records_of
from tests.support.event_types import ENROL
from tests.support.reference import Ev
from tests.support.scenario_kit import Lms, Run, migrated, remove
from worker.destinations import DLQ
from worker.engine.apply import BatchConfig, apply_batch
from worker.engine.records import InRecord, decode
from worker.store.sql_base import SqlStore
from worker.store.tables import outbox

N = 1000
CHUNK = BatchConfig(group_id="g", chunk=100)
USERS = [f"user-{i:04d}" for i in range(N)]


class Crash(Exception):
    pass


@pytest.fixture
def run(db_url: str) -> Iterator[Run]:
    with migrated(db_url) as store:
        yield Run(store, CHUNK)


def _crowd(run: Run, lms: Lms, users: list[str] = USERS) -> None:
    """Users enrolled in c1 and in S1 (plus decoys), in one batch: no link, no command."""
    events = [e for u in users for e in (lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))]
    events += [lms.enrol("only-enrolled", "c1", 1), lms.join("only-member", "S1", 1)]
    assert run.feed(*events) == []


def _crash_after(store: SqlStore, events: list[Ev], checkpoints: int) -> None:
    _crash_after_records(store, records_of(events), checkpoints)


def _crash_after_records(store: SqlStore, records: list[InRecord], checkpoints: int) -> None:
    """Apply one batch whose checkpoint commits, and crashes after the `checkpoints`-th
    (the transaction in hand is rolled back, as a crash would lose it)."""
    done = 0
    decoded = [decode(r) for r in records]
    with pytest.raises(Crash), store.transaction() as tx:

        def checkpoint() -> None:
            nonlocal done
            tx.commit()
            done += 1
            if done == checkpoints:
                raise Crash

        apply_batch(tx, decoded, CHUNK, checkpoint=checkpoint)
    assert done == checkpoints


def _per_user(run: Run, kind: str) -> Counter[str]:
    """Commands of this kind per user, after de-duplicating by (source, id)."""
    unique = {(c["source"], c["id"]): c for c in run.raw()}
    kind_type = f"lms.group.member.{kind}"
    return Counter(c["data"]["user_id"] for c in unique.values() if c["type"] == kind_type)


def test_link_then_course_deletion_on_a_crowded_course(run: Run) -> None:
    lms = Lms()
    _crowd(run, lms)
    link = lms.link("L1", "c1", "S1", "g1", 2)
    got = run.feed(link)
    assert len(got) == N
    assert {(c.kind, c.course, c.group, c.reason, c.links, c.caused_by) for c in got} == {
        ("add", "c1", "g1", "link_created", ("L1",), link.id)
    }
    assert sorted(c.user for c in got) == USERS
    run.agrees()
    deletion = lms.crs_del("c1", 3)
    got = run.feed(deletion)
    assert sorted(got) == [remove("c1", "g1", u, "course_deleted", ["L1"], deletion) for u in USERS]
    assert run.agrees() == set()


def test_crash_in_the_middle_of_a_backfill_then_of_a_course_deletion(run: Run) -> None:
    lms = Lms()
    _crowd(run, lms)
    link = lms.link("L1", "c1", "S1", "g1", 2)
    _crash_after(run.store, [link], checkpoints=4)
    # 4 chunks made it. Chunks page through the users the link could justify (active in its
    # course and in its segment): the decoys "only-enrolled" and "only-member" are not paged.
    assert sum(_per_user(run, "add").values()) == 4 * CHUNK.chunk
    apply_in_batches(run.store, records_of([link]), 1, CHUNK)  # the same batch, again
    adds = _per_user(run, "add")
    assert sorted(adds) == USERS and set(adds.values()) == {1}
    assert _per_user(run, "remove") == Counter()
    run.fed.append(link)
    run.agrees()
    assert {(c["data"]["reason"], c["data"]["caused_by"]) for c in run.new()} == {
        ("link_created", link.id)
    }
    assert run.feed(link) == []

    deletion = lms.crs_del("c1", 3)
    _crash_after(run.store, [deletion], checkpoints=4)
    # The users justified now, paged the same way (the decoys never were).
    assert sum(_per_user(run, "remove").values()) == 4 * CHUNK.chunk
    apply_in_batches(run.store, records_of([deletion]), 1, CHUNK)
    removes = _per_user(run, "remove")
    assert sorted(removes) == USERS and set(removes.values()) == {1}
    assert set(_per_user(run, "add").values()) == {1}
    run.fed.append(deletion)
    assert run.agrees() == set()
    assert {(c["data"]["reason"], c["data"]["caused_by"]) for c in run.new()} == {
        ("course_deleted", deletion.id)
    }


# The tests below use a smaller crowd: 3 chunks and a bit are enough for them.
FEW = USERS[:350]


def test_crash_with_other_events_in_the_batch(run: Run) -> None:
    lms = Lms()
    _crowd(run, lms, FEW)
    # The link's backfill crashes after 2 chunks; the same batch also enrols a newcomer and
    # unenrols the last user (whose chunk the crash never reached).
    batch = [lms.join("newcomer", "S1", 2), lms.enrol("newcomer", "c1", 2)]
    batch += [lms.link("L1", "c1", "S1", "g1", 2), lms.unenrol(FEW[-1], "c1", 2)]
    _crash_after(run.store, batch, checkpoints=2)
    apply_in_batches(run.store, records_of(batch), len(batch), CHUNK)
    adds = _per_user(run, "add")
    assert sorted(adds) == sorted([*FEW[:-1], "newcomer"]) and set(adds.values()) == {1}
    assert _per_user(run, "remove") == Counter()
    run.fed.extend(batch)
    run.agrees()


def test_unlinking_one_of_two_links_removes_only_those_the_other_does_not_hold(run: Run) -> None:
    lms = Lms()
    _crowd(run, lms, FEW)
    evens = FEW[::2]
    run.feed(*[lms.join(u, "S2", 1) for u in evens])
    assert len(run.feed(lms.link("L1", "c1", "S1", "g1", 2))) == len(FEW)
    assert run.feed(lms.link("L2", "c1", "S2", "g1", 2)) == []
    unlink = lms.unlink("L1", 3)
    assert sorted(run.feed(unlink)) == [
        remove("c1", "g1", u, "link_deleted", ["L1"], unlink) for u in FEW[1::2]
    ]
    assert {p[3] for p in run.agrees()} == set(evens)


ADD_C1_REMOVE_C1_ADD_C2 = (("add", "c1"), ("remove", "c1"), ("add", "c2"))


def test_crash_in_the_middle_of_a_move(run: Run) -> None:
    lms = Lms()
    run.feed(*[e for u in FEW for e in (lms.enrol(u, "c2", 1), lms.join(u, "S1", 1))])
    _crowd(run, lms, FEW)
    assert len(run.feed(lms.link("L1", "c1", "S1", "g1", 2))) == len(FEW)
    move = lms.link("L1", "c2", "S1", "g2", 3)
    _crash_after(run.store, [move], checkpoints=2)
    apply_in_batches(run.store, records_of([move]), 1, CHUNK)
    run.fed.append(move)
    assert run.agrees() == {("site-a", "c2", "g2", u) for u in FEW}
    unique = {(c["source"], c["id"]): c for c in run.raw()}.values()
    moved = Counter((c["type"], c["data"]["course_id"], c["data"]["user_id"]) for c in unique)
    assert moved == Counter(
        {(f"lms.group.member.{k}", c, u): 1 for u in FEW for k, c in ADD_C1_REMOVE_C1_ADD_C2}
    )


def test_more_users_in_one_batch_than_one_query_takes(run: Run) -> None:
    lms = Lms()
    run.feed(lms.link("L1", "c1", "S1", "g1", 1))
    many = USERS[:450]  # user scopes go 400 users per query
    events = [e for u in many for e in (lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))]
    got = run.feed(*events)
    assert sorted(c.user for c in got) == many
    # Enrolment and membership came in one batch: either may be named as the cause.
    why = {
        e.id: (e.get("user_id"), "enrolled" if e.type == ENROL else "joined_segment")
        for e in events
    }
    for c in got:
        assert c[:3] == ("add", "c1", "g1") and c.links == ("L1",)
        assert why[c.caused_by] == (c.user, c.reason)
    run.agrees()


def test_crash_after_a_chunk_keeps_the_dlq_copy_of_the_batch(run: Run) -> None:
    """A bad record in a batch whose backfill commits in chunks: a crash after the first
    chunk commit must not lose its DLQ copy. The store remembers a dead letter (once per
    store) only together with its outbox row, else the batch's replay takes it for
    dead-lettered already and no copy is ever published (seen in the hostile-input soak)."""
    lms = Lms()
    _crowd(run, lms, FEW)
    bad = InRecord("in", 1, 7, b"bad-key", b"{not json", [("h", None)], 1_700_000_000_000)
    batch = [bad, *records_of([lms.link("L1", "c1", "S1", "g1", 2)])]
    _crash_after_records(run.store, batch, checkpoints=1)
    apply_in_batches(run.store, batch, len(batch), CHUNK)  # the same batch, again
    with run.store.engine.connect() as conn:
        q = select(outbox.c.key, outbox.c.value).where(outbox.c.destination == DLQ)
        copies = [tuple(r) for r in conn.execute(q)]
    assert copies == [(b"bad-key", b"{not json")]
    assert len(_per_user(run, "add")) == len(FEW)
