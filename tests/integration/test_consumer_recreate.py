"""A stuck consumer is replaced (docs/FAULTS.md, the kafka-python stall): against the real
broker, the watchdog reads a real consumer's membership, and a recreated consumer joins as
the group's only member and resumes every partition at the store's offsets, not Kafka's."""

from __future__ import annotations

import time
from typing import Any

from tests.support.kafka_io import TopicFactory, produce
from worker.adapters.consumer_watchdog import read_membership
from worker.adapters.kafka_input import KafkaInput
from worker.engine.records import InRecord
from worker.ports import TP
from worker.settings import Settings

PER_PARTITION = 10


def consumer_settings(bootstrap: str, topic: str, group: str) -> Settings:
    """A KafkaInput's settings on its own (no store is opened)."""
    return Settings(
        kafka_bootstrap=bootstrap,
        database_url="sqlite:///unused.sqlite",
        input_topics=[topic],
        group_id=group,
        session_timeout_ms=6000,
    )


def poll_until(src: KafkaInput, want: int, timeout_s: float = 60) -> list[InRecord]:
    got: list[InRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got += src.poll(200)
    return got


def test_recreated_consumer_resumes_at_the_stored_offsets(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_admin: Any
) -> None:
    topic = topic_factory("in", 2)
    for p in (0, 1):
        produce(kafka_bootstrap, topic, [(b"k", b"%d" % i, []) for i in range(PER_PARTITION)], p)
    group = f"watchdog-{topic}"
    settings = consumer_settings(kafka_bootstrap, topic, group)
    stored: dict[TP, int] = {(topic, 0): 3, (topic, 1): 7}  # what "the store" has read
    asked: list[set[TP]] = []

    def seek_to(tps: set[TP]) -> dict[TP, int]:
        asked.append(set(tps))
        return {tp: stored[tp] for tp in tps}

    src = KafkaInput(settings, seek_to)
    try:
        first = poll_until(src, (PER_PARTITION - 3) + (PER_PARTITION - 7))
        assert sorted((r.partition, r.offset) for r in first) == [
            (0, o) for o in range(3, PER_PARTITION)
        ] + [(1, o) for o in range(7, PER_PARTITION)]
        m = read_membership(src.consumer)
        assert m is not None, "kafka-python's coordinator is not what the watchdog reads"
        assert m.stable and m.heartbeat_age_s < 6, m.detail
        old_member = src.consumer._coordinator._generation.member_id

        # Kafka's committed offsets differ from the store's: the store's must win again.
        src.commit({(topic, 0): PER_PARTITION, (topic, 1): PER_PARTITION})
        stored[(topic, 0)], stored[(topic, 1)] = 5, 1
        src.recreate("test")
        again = poll_until(src, (PER_PARTITION - 5) + (PER_PARTITION - 1))
        assert sorted((r.partition, r.offset) for r in again) == [
            (0, o) for o in range(5, PER_PARTITION)
        ] + [(1, o) for o in range(1, PER_PARTITION)]
        assert asked[-1] == {(topic, 0), (topic, 1)}
        assert src.assigned == {(topic, 0), (topic, 1)} and src.recreated == 1

        described = kafka_admin.describe_groups([group])[group]
        members = [m["member_id"] for m in described["members"]]
        assert members == [src.consumer._coordinator._generation.member_id], described
        assert old_member not in members  # the old consumer left; it holds nothing
    finally:
        src.close()


def test_a_join_nobody_awaited_is_rejoined_within_seconds(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_admin: Any
) -> None:
    """The stall CI hit in the database-outage fault test: kafka-python left "rebalancing"
    with no rejoin pending and no join in flight (a join that completed while no poll
    awaited it), so it never sent another heartbeat and the broker emptied the group. The
    state is set here on a joined consumer as kafka-python leaves it; without the rejoin the
    client stays out of its group until the 306 s limit."""
    from kafka.structs import MemberState

    topic = topic_factory("in", 1)
    produce(kafka_bootstrap, topic, [(b"k", b"%d" % i, []) for i in range(3)], 0)
    group = f"orphan-{topic}"
    settings = consumer_settings(kafka_bootstrap, topic, group)
    src = KafkaInput(settings, lambda tps: {tp: 0 for tp in tps})
    try:
        assert len(poll_until(src, 3)) == 3
        # Settled first: the join after the first metadata refresh is done, no rejoin due
        # (a rejoin already due would mend the state by itself).
        c = src.consumer._coordinator
        settle_by = time.monotonic() + 30
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 3 and time.monotonic() < settle_by:
            src.poll(200)
            if c.need_rejoin() or c.state != MemberState.STABLE:
                quiet_since = time.monotonic()
        assert c.state == MemberState.STABLE and not c.need_rejoin()
        c.state = MemberState.REBALANCING  # the orphaned join
        m = read_membership(src.consumer)
        assert m is not None and m.orphaned_join, m
        # Longer than the session (6 s): without a rejoin the broker drops the member.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            src.poll(200)
        m = read_membership(src.consumer)
        assert m is not None
        assert m.stable and m.heartbeat_age_s < 6, m.detail
        assert src.recreated == 0  # rejoined, not replaced
        described = kafka_admin.describe_groups([group])[group]
        members = [x["member_id"] for x in described["members"]]
        assert members == [src.consumer._coordinator._generation.member_id], described
        produce(kafka_bootstrap, topic, [(b"k", b"late", [])], 0)
        assert [r.value for r in poll_until(src, 1, timeout_s=30)] == [b"late"]
    finally:
        src.close()
