"""The mass-removal brake: a course deletion of 1,000 members is held, not published;
`release` publishes it exactly once and in order, `discard` drops it; a pair with held
commands queues later ones behind them."""

from __future__ import annotations

import pytest

from tests.support.engine_harness import CFG, apply_in_batches, outbox_commands, records_of
from tests.support.reference import Ev, check, desired
from worker.engine.apply import BatchConfig
from worker.engine.brake import BrakeLimits
from worker.store.sql_base import SqlStore

BRAKED = BatchConfig(
    group_id=CFG.group_id,
    chunk=100,
    brake=BrakeLimits(max_removals=500, max_share=0.5, min_removals=50),
)
S = "site"


def ev(i: str, t: str, time: int, **data: str) -> Ev:
    return Ev(S, i, t, 1_700_000_000_000_000 + time * 1_000_000, tuple(sorted(data.items())))


def course_with_members(n: int) -> list[Ev]:
    out = [
        ev(
            "L1",
            "lms.segment_group_link.created",
            1,
            link_id="L1",
            course_id="c",
            segment_id="S",
            group_id="g",
        )
    ]
    for k in range(n):
        u = f"u{k:04d}"
        out.append(ev(f"e{u}", "lms.enrollment.created", 2, user_id=u, course_id="c"))
        out.append(ev(f"m{u}", "lms.segment.member.added", 2, user_id=u, segment_id="S"))
    return out


def test_course_deletion_of_1000_is_held_then_released_once(store: SqlStore) -> None:
    history = course_with_members(1000)
    apply_in_batches(store, records_of(history), 500, BRAKED)
    assert len(outbox_commands(store)) == 1000
    deletion = ev("del", "lms.course.deleted", 3, course_id="c")
    apply_in_batches(store, records_of([deletion]), 1, BRAKED)
    assert len(outbox_commands(store)) == 1000  # nothing published
    (batch,) = store.held_batches("held")
    assert (batch.cause_event_id, batch.commands) == ("del", 1000)
    assert "1000 of 1000" in batch.detail
    # a replay of the deletion does not hold anything twice
    apply_in_batches(store, records_of([deletion]), 1, BRAKED)
    assert store.status("g").held_commands == 1000
    assert store.close_held(batch.id, release=True) == 1000
    with pytest.raises(ValueError):
        store.close_held(batch.id, release=True)
    cmds = outbox_commands(store)
    assert len(cmds) == 2000
    assert check(cmds, desired([*history, deletion])).violations == []


def test_discard_and_later_commands_queue_behind_held_ones(store: SqlStore) -> None:
    history = course_with_members(120)  # 120 of 120 > 50 %, and >= 50
    apply_in_batches(store, records_of(history), 500, BRAKED)
    unlink = ev("unlink", "lms.segment_group_link.deleted", 3, link_id="L1")
    relink = ev(
        "relink",
        "lms.segment_group_link.created",
        4,
        link_id="L2",
        course_id="c",
        segment_id="S",
        group_id="g",
    )
    apply_in_batches(store, records_of([unlink]), 1, BRAKED)
    apply_in_batches(store, records_of([relink]), 1, BRAKED)
    assert len(outbox_commands(store)) == 120  # removes held, re-adds queued behind them
    (batch,) = store.held_batches("held")
    assert batch.commands == 240
    assert store.close_held(batch.id, release=False) == 240
    (gone,) = store.held_batches("discarded")
    assert gone.id == batch.id
    # the pairs no longer queue: the next change is published again
    bye = ev("bye", "lms.enrollment.deleted", 5, user_id="u0000", course_id="c")
    apply_in_batches(store, records_of([bye]), 1, BRAKED)
    last = outbox_commands(store)[-1]
    assert (last["type"], last["data"]["user_id"]) == ("lms.group.member.remove", "u0000")


def test_small_removals_are_not_held(store: SqlStore) -> None:
    history = course_with_members(40)  # below min_removals
    apply_in_batches(store, records_of(history), 500, BRAKED)
    apply_in_batches(
        store, records_of([ev("d", "lms.course.deleted", 3, course_id="c")]), 1, BRAKED
    )
    assert len(outbox_commands(store)) == 80
