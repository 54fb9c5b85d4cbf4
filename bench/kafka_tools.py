"""Kafka I/O of the suite itself: bulk and paced producers, offsets, reading a range back.

None of these use a consumer group for reading, so they leave no trace the worker could see.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from bench.history import Record
from bench.lms import LmsProducer
from worker.ports import TP


def produce_all(bootstrap: str, topic: str, records: Iterable[Record]) -> tuple[int, float]:
    """Produce as fast as the client goes (acks=all); returns (count, seconds)."""
    p = LmsProducer(bootstrap)
    start = time.monotonic()
    n = 0
    try:
        for key, value, headers in records:
            p.send(topic, key, value, headers)
            n += 1
        p.flush()
    finally:
        p.close()
    return n, time.monotonic() - start


def produce_paced(
    bootstrap: str,
    topic: str,
    records: list[tuple[str, Record]],
    rate: float,
    tick_s: float = 0.005,
) -> tuple[dict[str, float], float]:
    """Offer `records` (event id, record) at `rate` per second in small ticks, like a busy
    LMS. Returns the wall-clock time (time.time()) each event was handed to the client, and
    the seconds the whole offer took (the achieved rate is len / seconds)."""
    p = LmsProducer(bootstrap, linger_ms=0)
    p.warm_up(topic)
    sent_at: dict[str, float] = {}
    start = time.monotonic()
    i = 0
    try:
        while i < len(records):
            due = int((time.monotonic() - start) * rate) + 1
            while i < min(due, len(records)):
                event_id, (key, value, headers) = records[i]
                sent_at[event_id] = time.time()
                p.send(topic, key, value, headers)
                i += 1
            next_tick = start + (i / rate)
            delay = min(tick_s, next_tick - time.monotonic())
            if delay > 0:
                time.sleep(delay)
        took = time.monotonic() - start
        p.flush(120)
    finally:
        p.close()
    return sent_at, took


def reader(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="segsync-bench-reader",
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )


class Watcher:
    """One long-lived client for end offsets and a group's committed offsets (polled often
    while a worker runs; a new client per poll would cost more than the poll)."""

    def __init__(self, bootstrap: str, group: str | None = None) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="segsync-bench-watcher",
            group_id=group,
            enable_auto_commit=False,
        )

    def ends(self, topics: list[str]) -> dict[TP, int]:
        c = self.consumer
        tps = [
            TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())
        ]
        got: dict[Any, int] = c.end_offsets(tps)
        return {(tp.topic, tp.partition): off for tp, off in got.items()}

    def committed(self, tps: Iterable[TP]) -> dict[TP, int]:
        """The group's committed offsets (the worker commits them after each batch)."""
        out: dict[TP, int] = {}
        for t, p in tps:
            off = self.consumer.committed(TopicPartition(t, p))
            out[(t, p)] = int(off) if off is not None else 0
        return out

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def end_offsets(bootstrap: str, topics: list[str]) -> dict[TP, int]:
    w = Watcher(bootstrap)
    try:
        return w.ends(topics)
    finally:
        w.close()


def total(offsets: dict[TP, int]) -> int:
    return sum(offsets.values())


def read_range(
    bootstrap: str,
    start: dict[TP, int],
    end: dict[TP, int],
    on_record: Callable[[Any], None],
    timeout_s: float = 300,
) -> int:
    """Feed every record in [start, end) of each partition to `on_record`; returns the count."""
    c = reader(bootstrap)
    deadline = time.monotonic() + timeout_s
    n = 0
    try:
        want = {TopicPartition(*tp): off for tp, off in end.items() if off > start.get(tp, 0)}
        if not want:
            return 0
        c.assign(list(want))
        for tp in want:
            c.seek(tp, start.get((tp.topic, tp.partition), 0))
        pending = set(want)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read_range: still {len(pending)} partitions after {timeout_s}s"
                )
            for tp, batch in c.poll(timeout_ms=500).items():
                for r in batch:
                    if r.offset < want[tp]:
                        on_record(r)
                        n += 1
            pending = {tp for tp in pending if c.position(tp) < want[tp]}
    finally:
        c.close()
    return n


def wait_caught_up(
    bootstrap: str, group: str, topics: list[str], timeout_s: float, alive: Callable[[], bool]
) -> float:
    """Wait until `group` has committed the end offsets of `topics`; returns seconds waited."""
    start = time.monotonic()
    w = Watcher(bootstrap, group)
    try:
        ends = w.ends(topics)
        while time.monotonic() - start < timeout_s:
            if not alive():
                raise RuntimeError("the worker exited while the suite waited for it")
            done = w.committed(ends)
            if all(done.get(tp, 0) >= off for tp, off in ends.items()):
                return time.monotonic() - start
            time.sleep(0.25)
    finally:
        w.close()
    raise TimeoutError(f"group {group} not caught up after {timeout_s:.0f}s")
