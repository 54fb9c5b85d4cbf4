"""The brake counts unenrols per course, through the real console script: deleting a segment
enrol link with 1,000 members is held; `segsync held` lists it and `segsync release`
publishes the unenrols exactly once, on the enrolment command topic."""

from __future__ import annotations

import json
import random
import subprocess

from tests.engine.test_brake import ev
from tests.integration.test_brake_cli import status
from tests.integration.test_worker_e2e import TopicFactory, commands, make_env, produce_events
from tests.support.reference import check_enrol, desired_enrol
from tests.support.worker_proc import SEGSYNC, run_until_caught_up


def test_enrol_link_deletion_held_then_released_once(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.extra.update(SEGSYNC_BRAKE_MAX_REMOVALS="500", SEGSYNC_BRAKE_MAX_SHARE="0.5")
    link = ev(
        "E1", "lms.segment_enrol_link.created", 1, link_id="E1", course_id="c", segment_id="S"
    )
    members = [
        ev(f"m{k}", "lms.segment.member.added", 2, user_id=f"u{k:04d}", segment_id="S")
        for k in range(1000)
    ]
    produce_events(kafka_bootstrap, w.input_topics, [link, *members], random.Random(1))
    run_until_caught_up(w)
    assert len(commands(kafka_bootstrap, w.enrollment_command_topic)) == 1000
    unlink = ev("del", "lms.segment_enrol_link.deleted", 3, link_id="E1")
    produce_events(kafka_bootstrap, w.input_topics, [unlink], random.Random(2))
    run_until_caught_up(w)
    assert len(commands(kafka_bootstrap, w.enrollment_command_topic)) == 1000  # held

    listed = subprocess.run(
        [SEGSYNC, "held", "--json"], env=w.env(), capture_output=True, text=True, check=True
    )
    (batch,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (batch["cause_event_id"], batch["commands"], batch["status"]) == ("del", 1000, "held")
    assert "course c enrolments: 1000 of 1000 users" in batch["detail"]
    assert status(w)[1:] == (1, 1000)
    out = subprocess.run(
        [SEGSYNC, "release", str(batch["id"])], env=w.env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    got = commands(kafka_bootstrap, w.enrollment_command_topic)
    assert len(got) == 2000 and commands(kafka_bootstrap, w.command_topic) == []
    unenrols = [c for c in got if c["type"] == "lms.course.unenrol"]
    assert len(unenrols) == 1000 and {c["data"]["reason"] for c in unenrols} == {"link_deleted"}
    assert check_enrol(got, desired_enrol([link, *members, unlink])).violations == []
    assert status(w) == (0, 0, 0)
