"""Events produced by the CloudEvents Python SDK's Kafka bindings are valid input, in both
content modes, with and without `datacontenttype`, through its 1.x API (cloudevents.v1) and
its core API (cloudevents.core); the commands read back with the SDK (issue 12, item 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudevents.core.bindings import kafka as core_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka as v1_kafka

from tests.integration.test_dlq_records import make_env
from tests.support.kafka_io import consume_all, produce
from tests.support.sdk_events import VARIANTS, sdk_record
from tests.support.worker_proc import run_until_caught_up

TopicFactory = Callable[..., str]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_sdk_produced_events_in_every_mode_are_applied(
    kafka_bootstrap: str, topic_factory: TopicFactory, db_url: str
) -> None:
    w = make_env(kafka_bootstrap, topic_factory, db_url)
    link = dict(link_id="l1", course_id="c1", segment_id="s1", group_id="g1")
    records = [sdk_record(VARIANTS[0], "link", "lms.segment_group_link.created", T0, link)]
    for i, variant in enumerate(VARIANTS):
        at = T0 + timedelta(seconds=i + 1)
        join = {"user_id": f"u{i}", "segment_id": "s1"}
        enrol = {"user_id": f"u{i}", "course_id": "c1"}
        records.append(sdk_record(variant, f"j{i}", "lms.segment.member.added", at, join))
        records.append(sdk_record(variant, f"e{i}", "lms.enrollment.created", at, enrol))
    # Structured, with stray ce_ headers: the content type says structured, whatever they say.
    stray = sdk_record(
        ("core", "structured", None),
        "j-stray",
        "lms.segment.member.added",
        T0,
        {"user_id": "u-stray", "segment_id": "s1"},
    )
    stray[2].extend([("ce_specversion", b"1.0"), ("ce_id", b"other"), ("ce_type", b"not.this")])
    records.append(stray)
    records.append(
        sdk_record(
            ("v1", "binary", "application/json"),
            "e-stray",
            "lms.enrollment.created",
            T0,
            {"user_id": "u-stray", "course_id": "c1"},
        )
    )
    produce(kafka_bootstrap, w.input_topics, records)
    run_until_caught_up(w)
    assert consume_all(kafka_bootstrap, w.dlq_topic) == []
    raw = consume_all(kafka_bootstrap, w.command_topic)
    # Read back with the SDK, both APIs.
    v1_cmds = [
        v1_kafka.from_structured(v1_kafka.KafkaMessage(dict(r.headers), r.key, r.value))
        for r in raw
    ]
    core_cmds = [
        core_kafka.from_structured(
            core_kafka.KafkaMessage(headers=dict(r.headers), key=r.key, value=r.value),
            JSONFormat(),
        )
        for r in raw
    ]

    def user(data: Any) -> str:
        assert isinstance(data, dict)
        return str(data["user_id"])

    expected = sorted([f"u{i}" for i in range(len(VARIANTS))] + ["u-stray"])
    assert sorted(user(c.get_data()) for c in v1_cmds) == expected
    for c in v1_cmds:
        assert c["type"] == "lms.group.member.add" and c["source"] == "site-a"
        assert c["subject"] == f"course/c1/group/g1/user/{user(c.get_data())}"
    assert sorted(user(c.get_data()) for c in core_cmds) == expected
    assert {c.get_type() for c in core_cmds} == {"lms.group.member.add"}
