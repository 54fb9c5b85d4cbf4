"""The input topics' KafkaConsumer as kafka-python builds and calls it: its configuration,
the rebalance listener it runs on its IO thread, and its records in the engine's form."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

from worker.adapters.kafka_io import client_config
from worker.engine.records import InRecord
from worker.ports import TP
from worker.settings import Settings


def in_record(topic: str, partition: int, r: Any) -> InRecord:
    """A kafka-python ConsumerRecord as the engine sees it (the worker's consumer and the
    ops commands' reader both read through this)."""
    return InRecord(topic, partition, r.offset, r.key, r.value, r.headers or [], r.timestamp)


class Assignments(Protocol):
    """Who hears of the group's decisions (`KafkaInput`)."""

    def on_revoked(self, revoked: set[TP]) -> None: ...
    def on_assigned(self, assigned: set[TP]) -> None: ...


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """kafka-python runs these on its IO thread, inside poll(), and sends no heartbeat while
    one runs: they only take note (no database, no publish, nothing that can wait or fail).
    A listener that waited for the database during an outage stopped the heartbeats, the
    session expired and the whole group rebalanced again (docs/FAULTS.md)."""

    def __init__(self, owner: Assignments) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.owner.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.owner.on_assigned({(tp.topic, tp.partition) for tp in assigned})


def subscribe(settings: Settings, owner: Assignments) -> KafkaConsumer:
    """A new consumer of the input topics, subscribed; `owner` hears its rebalances."""
    consumer = KafkaConsumer(
        **client_config(settings),
        group_id=settings.group_id,
        group_instance_id=settings.instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.batch_max_records,
        session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 4),
        # A subscribed topic without metadata yet is assigned nothing until the next
        # refresh: refresh every 30 s rather than kafka-python's 5 minutes.
        metadata_max_age_ms=30_000,
    )
    # Load the input topics' metadata before joining, so that the first assignment
    # already covers their partitions (seen once: a join before the metadata, an empty
    # assignment, and nothing consumed until the next refresh).
    for topic in settings.input_topics:
        consumer.partitions_for_topic(topic)
    consumer.subscribe(list(settings.input_topics), listener=_Listener(owner))
    _snapshot_metadata(consumer)
    return consumer


def _snapshot_metadata(consumer: KafkaConsumer) -> None:
    """kafka-python's group leader rejoins when the subscribed topics' metadata differs from
    the snapshot it assigned with, and takes that snapshot on metadata updates only: with the
    metadata loaded just before `subscribe`, the snapshot stayed empty, the first metadata
    update after the join differed from it, and every start assigned the partitions twice
    (two rebalances before the first batch; tests/integration/test_consumer_join.py). Taken
    here from the metadata loaded above, as that update does. Internals (kafka-python 3.0,
    pinned): if they moved, the extra rebalance only costs time. What it may raise (a topic
    the credentials may not read) is left to the poll, which raises it as before."""
    coordinator = getattr(consumer, "_coordinator", None)
    update = getattr(coordinator, "_handle_metadata_update", None)
    cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
    if callable(update) and cluster is not None:
        with contextlib.suppress(Exception):
            update(cluster)
