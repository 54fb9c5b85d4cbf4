"""Where the input partitions stand: a new assignment sought to the store's offsets, the
check that a topic has not gone backwards below them, and the lag behind each partition's
high watermark."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from worker.errors import FatalError
from worker.ports import TP


def seek_stored(consumer: KafkaConsumer, tps: set[TP], stored: dict[TP, int]) -> None:
    """Each partition of `tps` the consumer still owns to its stored offset; one the store
    has not seen to the beginning (the store is the source of truth)."""
    owned = {(t.topic, t.partition) for t in consumer.assignment()}
    fresh = []
    for topic, part in sorted(tps & owned):
        ktp = TopicPartition(topic, part)
        if (topic, part) in stored:
            consumer.seek(ktp, stored[(topic, part)])
        else:
            fresh.append(ktp)
    if fresh:
        consumer.seek_to_beginning(*fresh)


def raise_if_behind(stored: dict[TP, int], ends: dict[TopicPartition, int | None]) -> None:
    """FatalError when a stored offset is past its partition's end offset."""
    for ktp, end in sorted(ends.items()):
        at = stored[(ktp.topic, ktp.partition)]
        if end is not None and at > end:
            raise FatalError(
                f"input topic {ktp.topic} partition {ktp.partition} went backwards: the "
                f"store has read it up to offset {at} but it ends at {end} (re-created, or "
                "the broker lost its data?); stopping rather than skipping new events. "
                "To read it again from the start, use a new SEGSYNC_GROUP_ID"
            )


def partition_lags(
    consumer: KafkaConsumer, assigned: set[TP], next_offsets: dict[TP, int]
) -> dict[TP, int]:
    """Per assigned partition: the high watermark from the last fetch minus the next offset
    to read."""
    lags: dict[TP, int] = {}
    for tp in assigned:
        try:
            high = consumer.highwater(TopicPartition(*tp))
        except Exception:
            continue
        if high is not None and tp in next_offsets:
            lags[tp] = high - next_offsets[tp]
        elif high == 0:
            lags[tp] = 0
    return lags
