"""The test topics keep their records: many tests produce records stamped years ago, and
with the broker's default retention (7 days, checked every 5 minutes) a check that fell
between produce and consume deleted them, so a worker saw an empty topic (a CI failure of
test_far_future)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType

TopicFactory = Callable[..., str]


def retention_ms(admin: Any, topic: str) -> str:
    """The topic's own retention.ms (a topic without one inherits the broker's 7 days)."""
    got = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    own: dict[str, Any] = got["topic"][topic]
    return str(own.get("retention.ms", {}).get("value", "inherited"))


def test_test_topics_have_no_time_retention(kafka_admin: Any, topic_factory: TopicFactory) -> None:
    assert retention_ms(kafka_admin, topic_factory("ret", 1)) == "-1"


def test_a_test_may_still_set_retention(kafka_admin: Any, topic_factory: TopicFactory) -> None:
    topic = topic_factory("ret", 1, configs={"retention.ms": "60000"})
    assert retention_ms(kafka_admin, topic) == "60000"
