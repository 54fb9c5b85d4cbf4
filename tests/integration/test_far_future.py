"""An event dated more than SEGSYNC_MAX_FUTURE_S after its record's timestamp goes to the
DLQ (issue 12, item 12): one LMS node with a wrong clock must not pin a fact forever."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.integration.test_dlq_records import make_env, produce_at
from tests.support.kafka_io import consume_all
from tests.support.worker_proc import run_until_caught_up

TopicFactory = Callable[..., str]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def event(id_: str, type_: str, at: datetime, **data: str) -> bytes:
    body = {
        "specversion": "1.0",
        "id": id_,
        "source": "site-a",
        "type": type_,
        "time": at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body).encode()


def test_events_dated_too_far_ahead_go_to_the_dlq(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    hour = timedelta(hours=1)
    link = dict(link_id="l1", course_id="c1", segment_id="s1", group_id="g1")
    values = [
        event("e1", "lms.segment_group_link.created", NOW, **link),
        event("e2", "lms.segment.member.added", NOW, user_id="u1", segment_id="s1"),
        event("e3", "lms.segment.member.added", NOW, user_id="u2", segment_id="s1"),
        # an enrolment dated 2099: it would win over every later real unenrolment
        event(
            "far",
            "lms.enrollment.created",
            datetime(2099, 1, 1, tzinfo=UTC),
            user_id="u1",
            course_id="c1",
        ),
        # a course deletion at the end of time would kill c1 for good
        event("end", "lms.course.deleted", datetime(9999, 12, 31, tzinfo=UTC), course_id="c1"),
        # a little ahead (clock skew within the default day) is fine
        event("near", "lms.enrollment.created", NOW + 23 * hour, user_id="u2", course_id="c1"),
    ]
    produce_at(kafka_bootstrap, w.input_topics, [(b"k", v, 0, NOW_MS) for v in values])
    run_until_caught_up(w)
    dlq = consume_all(kafka_bootstrap, w.dlq_topic)
    assert [json.loads(r.value)["id"] for r in dlq] == ["far", "end"]
    for r in dlq:
        reason = dict(r.headers)["segsync_error"].decode()
        assert "after the record timestamp" in reason and "SEGSYNC_MAX_FUTURE_S=86400" in reason
    cmds = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic)]
    assert [(c["type"], c["data"]["user_id"]) for c in cmds] == [("lms.group.member.add", "u2")]


def test_the_limit_is_a_setting(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    w.extra["SEGSYNC_MAX_FUTURE_S"] = "60"
    values = [
        event("a", "lms.course.deleted", NOW + timedelta(seconds=59), course_id="c1"),
        event("b", "lms.course.deleted", NOW + timedelta(seconds=61), course_id="c2"),
    ]
    produce_at(kafka_bootstrap, w.input_topics, [(b"k", v, 0, NOW_MS) for v in values])
    run_until_caught_up(w)
    assert [json.loads(r.value)["id"] for r in consume_all(kafka_bootstrap, w.dlq_topic)] == ["b"]
