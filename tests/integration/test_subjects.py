"""Command subjects name one pair even when ids contain `/` or `%` (issue 12, item 13):
each id is percent-encoded as a URI path segment."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from tests.integration.test_dlq_records import make_env, produce_at
from tests.integration.test_far_future import NOW, NOW_MS, event
from tests.support.kafka_io import consume_all
from tests.support.worker_proc import run_until_caught_up

TopicFactory = Callable[..., str]


def test_subject_ids_are_percent_encoded(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    # Two pairs whose plain subjects would both read "course/a/group/b/group/c/user/u".
    pairs = [("a/group/b", "c", "u"), ("a", "b/group/c", "u")]
    values = []
    for i, (course, group, user) in enumerate(pairs):
        link = dict(link_id=f"l{i}", course_id=course, segment_id="s", group_id=group)
        values.append(event(f"l{i}", "lms.segment_group_link.created", NOW, **link))
        values.append(event(f"e{i}", "lms.enrollment.created", NOW, user_id=user, course_id=course))
    values.append(event("m", "lms.segment.member.added", NOW, user_id="u", segment_id="s"))
    odd = dict(link_id="l9", course_id="100%", segment_id="s", group_id="g é?#")
    values.append(event("l9", "lms.segment_group_link.created", NOW, **odd))
    values.append(event("e9", "lms.enrollment.created", NOW, user_id="u", course_id="100%"))
    produce_at(kafka_bootstrap, w.input_topics, [(b"k", v, 0, NOW_MS) for v in values])
    run_until_caught_up(w)
    cmds = [json.loads(r.value) for r in consume_all(kafka_bootstrap, w.command_topic)]
    subjects = sorted(c["subject"] for c in cmds)
    assert subjects == [
        "course/100%25/group/g%20%C3%A9%3F%23/user/u",
        "course/a%2Fgroup%2Fb/group/c/user/u",
        "course/a/group/b%2Fgroup%2Fc/user/u",
    ]
    for c in cmds:  # decoding each segment gives the ids back
        _, course, _, group, _, user = c["subject"].split("/")
        d = c["data"]
        assert (unquote(course), unquote(group), unquote(user)) == (
            d["course_id"],
            d["group_id"],
            d["user_id"],
        )
