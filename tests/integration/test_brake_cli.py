"""The brake through the real console script: a course deletion of 1,000 members is held;
`segsync held` lists it, `segsync release` publishes it exactly once."""

from __future__ import annotations

import json
import random
import subprocess

from tests.engine.test_brake import course_with_members, ev
from tests.integration.test_worker_e2e import TopicFactory, commands, make_env, produce_events
from tests.support.reference import check, desired
from tests.support.worker_proc import SEGSYNC, WorkerEnv, run_until_caught_up


def test_held_then_released_exactly_once(
    kafka_bootstrap: str, topic_factory: TopicFactory, pg_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, pg_url)
    w.extra.update(SEGSYNC_BRAKE_MAX_REMOVALS="500", SEGSYNC_BRAKE_MAX_SHARE="0.5")
    history = course_with_members(1000)
    deletion = ev("del", "lms.course.deleted", 3, course_id="c")
    produce_events(kafka_bootstrap, w.input_topics, history, random.Random(1))
    run_until_caught_up(w)
    produce_events(kafka_bootstrap, w.input_topics, [deletion], random.Random(2))
    run_until_caught_up(w)
    assert len(commands(kafka_bootstrap, w.command_topic)) == 1000

    listed = subprocess.run(
        [SEGSYNC, "held", "--json"], env=w.env(), capture_output=True, text=True, check=True
    )
    (batch,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (batch["cause_event_id"], batch["commands"], batch["status"]) == ("del", 1000, "held")
    assert status(w)[1:] == (1, 1000)

    out = subprocess.run(
        [SEGSYNC, "release", str(batch["id"])], env=w.env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    again = subprocess.run(
        [SEGSYNC, "release", str(batch["id"])], env=w.env(), capture_output=True, text=True
    )
    assert again.returncode == 1 and "already released" in again.stderr
    assert again.stderr.count("\n") == 1

    got = commands(kafka_bootstrap, w.command_topic)
    assert len(got) == 2000
    assert status(w) == (0, 0, 0)
    assert check(got, desired([*history, deletion])).violations == []


def status(w: WorkerEnv) -> tuple[int, int, int]:
    """(outbox backlog, held batches, held commands) as `segsync status --json` reports them."""
    out = subprocess.run(
        [SEGSYNC, "status", "--json"], env=w.env(), capture_output=True, text=True, check=True
    )
    doc = json.loads(out.stdout)
    return doc["outbox_backlog"], doc["held_batches"], doc["held_commands"]


def test_brake_enabled_false_turns_it_off(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    """README: SEGSYNC_BRAKE_ENABLED=false is the one way to turn the brake off. Limits of 0
    (MAX_REMOVALS, MIN_REMOVALS) leave the share limit on: one member of one is held."""
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    trip_on_first = {
        "SEGSYNC_BRAKE_MAX_REMOVALS": "0",
        "SEGSYNC_BRAKE_MIN_REMOVALS": "0",
        "SEGSYNC_BRAKE_MAX_SHARE": "0.5",
    }
    history = [
        ev(
            f"L{c}",
            "lms.segment_group_link.created",
            1,
            link_id=f"L{c}",
            course_id=c,
            segment_id="S",
            group_id="g",
        )
        for c in ("c1", "c2")
    ]
    history += [ev("m", "lms.segment.member.added", 1, user_id="u", segment_id="S")]
    history += [
        ev(f"e{c}", "lms.enrollment.created", 1, user_id="u", course_id=c) for c in ("c1", "c2")
    ]
    rng = random.Random(3)
    produce_events(kafka_bootstrap, w.input_topics, history, rng)
    run_until_caught_up(w)
    assert len(commands(kafka_bootstrap, w.command_topic)) == 2  # u added to g of c1 and c2

    # The limits alone hold the removal of the only member of c1's group ...
    w.extra.update(trip_on_first)
    unlink_c1 = ev("d1", "lms.segment_group_link.deleted", 2, link_id="Lc1")
    produce_events(kafka_bootstrap, w.input_topics, [unlink_c1], rng)
    run_until_caught_up(w)
    assert status(w)[1:] == (1, 1)
    assert len(commands(kafka_bootstrap, w.command_topic)) == 2

    # ... and with the switch off, the same kind of removal is published.
    w.extra.update(SEGSYNC_BRAKE_ENABLED="false")
    unlink_c2 = ev("d2", "lms.segment_group_link.deleted", 2, link_id="Lc2")
    produce_events(kafka_bootstrap, w.input_topics, [unlink_c2], rng)
    run_until_caught_up(w)
    got = commands(kafka_bootstrap, w.command_topic)
    assert [(c["type"], c["data"]["course_id"]) for c in got[2:]] == [
        ("lms.group.member.remove", "c2")
    ]
    assert status(w)[1:] == (1, 1)  # c1's removal still waits for an operator
