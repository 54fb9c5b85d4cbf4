"""A command whose justifying links are many (9,000 links into one group) is bounded: its
`link_ids` holds the first MAX_LINK_IDS ids, sorted, and `link_count` says how many there
were; it is published and nothing queues behind it; `plan` writes the same and says so
(issue 12, item 3)."""

from __future__ import annotations

import json

import pytest

from schemas.commands import GroupCommand
from tests.ops.conftest import Ops
from tests.support.histories import T0, to_record
from tests.support.kafka_io import produce
from tests.support.reference import Ev, check, desired

N_LINKS = 9000
MAX_LINK_IDS = 100  # the documented bound (README, schemas.commands.MAX_LINK_IDS)


def link_id(i: int) -> str:
    return f"link-{i:05d}-" + "x" * 110  # long ids, as an LMS may make them: ~1.1 MB in all


def history() -> list[Ev]:
    evs = [
        Ev(
            "big",
            f"l{i}",
            "lms.segment_group_link.created",
            T0 + 1,
            (
                ("course_id", "c1"),
                ("group_id", "g1"),
                ("link_id", link_id(i)),
                ("segment_id", f"s{i}"),
            ),
        )
        for i in range(N_LINKS)
    ]
    evs += [
        Ev(
            "big",
            f"m{i}",
            "lms.segment.member.added",
            T0 + 2,
            (("segment_id", f"s{i}"), ("user_id", "u1")),
        )
        for i in range(N_LINKS)
    ]
    evs.append(
        Ev("big", "e1", "lms.enrollment.created", T0 + 3, (("course_id", "c1"), ("user_id", "u1")))
    )
    # Another tenant's command, queued behind the big one.
    for source in ("small",):
        evs += [
            Ev(
                source,
                "L",
                "lms.segment_group_link.created",
                T0,
                (("course_id", "c"), ("group_id", "g"), ("link_id", "l"), ("segment_id", "s")),
            ),
            Ev(
                source, "M", "lms.segment.member.added", T0, (("segment_id", "s"), ("user_id", "v"))
            ),
            Ev(
                source,
                "E",
                "lms.enrollment.created",
                T0 + 5,
                (("course_id", "c"), ("user_id", "v")),
            ),
        ]
    return evs


def produce_in_order(ops: Ops, evs: list[Ev]) -> None:
    """One partition, so that the enrolment comes after every link and membership."""
    produce(ops.bootstrap, ops.w.input_topics, [to_record(e) for e in evs], partition=0)


def check_big(cmds: list[dict[str, object]]) -> None:
    (big,) = [c for c in cmds if c["source"] == "big"]
    GroupCommand.model_validate(big)  # still a valid command
    data = big["data"]
    assert isinstance(data, dict)
    assert data["link_ids"] == sorted(link_id(i) for i in range(N_LINKS))[:MAX_LINK_IDS]
    assert data["link_count"] == N_LINKS
    assert len(json.dumps(big)) < 64 * 1024


# The bound is the codec's, the same on both stores. On PostgreSQL this history takes
# ~150 s (each of u1's 9,000 memberships recomputes u1 against every link: the per-user
# recompute is not yet set-based, docs/BENCHMARKS.md), so that variant runs with the
# slow suite and the default suite keeps SQLite.
@pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True
)
def test_a_command_with_9000_links_is_bounded_and_published(ops_db: Ops) -> None:
    ops_db.w.extra["SEGSYNC_RETRY_DEADLINE_S"] = "10"
    evs = history()
    produce_in_order(ops_db, evs)
    ops_db.worker()
    cmds = ops_db.commands()
    assert check(cmds, desired(evs)).violations == []
    check_big(cmds)
    assert [c["source"] for c in cmds].count("small") == 1
    assert ops_db.status()["outbox_backlog"] == 0


def test_plan_writes_the_bounded_command_and_says_so(ops: Ops) -> None:
    produce_in_order(ops, history())
    proc = ops.segsync("plan")
    cmds = [json.loads(line) for line in proc.stdout.splitlines()]
    check_big(cmds)
    assert f"1 command with link_ids cut to the first {MAX_LINK_IDS}" in proc.stderr
