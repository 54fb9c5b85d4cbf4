"""The worker loop: poll, apply, publish, commit.

Checkpoint order, every batch (why: docs/adr/0001-offsets-in-the-store-and-outbox.md):
  1. state commit  — facts, pair transitions, outbox rows and the next input offsets in ONE
                     database transaction (apply_batch); or, a batch split into lanes by
                     site (PostgreSQL, ADR 0013), each lane's state in its own transaction
                     and then the counters and offsets in one more: step 1 ends with it;
  2. publish       — the outbox, oldest first, acks=all; rows deleted after the acks;
  3. offset commit — the same offsets to Kafka, for lag tools only: sent without waiting
                     for the answer between batches (one round trip less before the next
                     apply), awaited once caught up or stopping.
A big recompute (a link over 100,000 users) commits chunk by chunk; each chunk commit is
followed by its publish, and the input offsets are part of the batch's last commit only.
On a store that allows it (PostgreSQL) a chunk's publish runs on the publisher thread
while the next chunk is computed: one chunk publish in flight at most, and the batch's
apply ends only once its last chunk publish is done, so steps 2 and 3 keep their order.
A crash between any two steps is repaired at start-up: seek to the store's offsets and
publish the outbox before consuming anything. The same after every rebalance: the poll
that brings an assignment calls `stored_offsets` on this thread before it returns any
record of the new partitions.

Overlap: step 2 of a batch runs on a publisher thread while the main thread polls and
decodes the next batch and, on a store that publishes while it applies (PostgreSQL), while
it applies that batch too (ADR 0020); step 3 waits for it, and a batch's step 2 starts
only after the last batch's step 3. So the order per batch is unchanged; what overlaps is
waiting for acks with the consumer's, the decoder's and the next apply's work. One
publish at a time (a lock), whichever thread asks. On SQLite (one writer) the next batch
is applied only after step 3. On PostgreSQL the publish runs in a process of its own (ADR
0015): the thread that asks waits for its answer, so none of this order changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Protocol, TypeVar

from worker import logs, observability, shutdown
from worker.engine import lanes
from worker.engine.apply import BatchConfig, BatchResult, apply_batch, store_progress
from worker.engine.catch_up import CatchUp
from worker.engine.last_batch import LastBatch
from worker.engine.publisher import RecordSink, publish_pending
from worker.engine.records import Decoded, InRecord, decode_batch
from worker.engine.replay_probe import ReplayProbe
from worker.engine.retrying import with_retries
from worker.ports import TP, StateStore

log = logs.get("segsync.loop")
R = TypeVar("R")


class Input(Protocol):
    assigned: set[TP]
    joined: bool

    def poll(self, timeout_ms: int) -> list[InRecord]: ...
    def end_offsets(self, topics: list[str]) -> dict[TP, int]: ...
    def position(self, tp: TP) -> int: ...
    def commit(self, offsets: dict[TP, int], wait: bool = True) -> None: ...
    def keep_alive(self) -> None: ...


class Worker:
    def __init__(
        self,
        store: StateStore,
        sink: RecordSink | None,
        cfg: BatchConfig,
        retry_deadline_s: float,
        poll_timeout_ms: int = 200,
        apply_lanes: int = 1,
        outbox: Callable[[], int] | None = None,
    ) -> None:
        """`outbox`: publishes the outbox (step 2) and returns how many rows it sent; by
        default `publish_pending(store, sink)` on the calling thread (a publisher process:
        worker.adapters.publisher_process, ADR 0015)."""
        self.store = store
        if outbox is None:
            if sink is None:
                raise ValueError("a Worker needs a sink or an outbox publisher")
            outbox = partial(publish_pending, store, sink)
        self._outbox = outbox
        self.lanes = apply_lanes  # on a store with concurrent_sites (ADR 0013)
        self._lane_pool: ThreadPoolExecutor | None = None
        self.sink = sink
        self.cfg = cfg
        self.retry_deadline_s = retry_deadline_s
        self.poll_timeout_ms = poll_timeout_ms
        self.totals: dict[str, int] = {}
        self._publishing = threading.Lock()
        self._source: Input | None = None  # polled between the chunks of a long batch
        self.replay_probe = ReplayProbe()  # whether the next decode looks for replays first

    # --- hooks for the consumer ---
    def stored_offsets(self, assigned: set[TP]) -> dict[TP, int]:
        """On every assignment: publish what is owed first, then resume from the store.
        Called on this (the loop's) thread from the poll that brought the assignment,
        before any record of those partitions is returned; never from kafka-python's IO
        thread, whose heartbeats must go on while this waits out a database outage."""
        self.publish()
        self.replay_probe.on_assignment()
        offsets = self.retry(
            "load offsets", lambda: self.store.load_offsets(self.cfg.group_id, assigned)
        )
        log.info(
            "partitions assigned",
            partitions=[f"{t}:{p}" for t, p in sorted(assigned)],
            resume={f"{t}:{p}": o for (t, p), o in sorted(offsets.items())},
        )
        return offsets

    # --- the loop ---
    @property
    def stopping(self) -> bool:
        return shutdown.requested.is_set()

    def run(self, source: Input, topics: list[str], until_caught_up: bool = False) -> None:
        try:
            self._run(source, topics, until_caught_up)
        finally:
            if self._lane_pool is not None:
                self._lane_pool.shutdown()
                self._lane_pool = None

    def _run(self, source: Input, topics: list[str], until_caught_up: bool) -> None:
        self._source = source
        self.publish()
        catch_up = CatchUp(
            self.retry("end offsets", lambda: source.end_offsets(topics)) if until_caught_up else {}
        )
        with ThreadPoolExecutor(1, thread_name_prefix="segsync-publish") as publisher:
            last = LastBatch(partial(self.commit_kafka, source))  # its steps 2 and 3

            while not self.stopping:
                # The broker may be down for a while: retry (bounded by the deadline).
                records = self.retry("poll", lambda: source.poll(self.poll_timeout_ms))
                decoded = self.decode(records) if records else None
                if records and decoded is not None:
                    if not self.store.publishes_while_applying:
                        last.settle()  # one writer (SQLite): no publish during an apply
                    with observability.batch(records):
                        result = self.apply(records, decoded, publisher)  # step 1
                    last.settle()  # the last batch's steps 2 and 3 before this one's step 2
                    last.owe(publisher.submit(self.publish), result.next_offsets)
                else:
                    last.settle()
                    self.publish()  # another worker's crash may have left rows behind
                if until_caught_up and self.caught_up(source, catch_up):
                    last.settle(wait=True)  # caught up means published and committed too
                    log.info("caught up", totals=self.totals)
                    return
            last.settle(wait=True)
        log.info("stop requested: batch in hand applied", totals=self.totals)

    def decode(self, records: list[InRecord]) -> list[Decoded]:
        # Events applied before (a replay) are recognised from their envelope, not decoded,
        # when the last batch suggests a replay (worker.engine.replay_probe).
        seen = self.store.seen_events if self.replay_probe.wanted else None
        return self.retry(
            "decode batch", lambda: decode_batch(records, seen, self.cfg.max_future_s)
        )

    def apply(
        self,
        records: list[InRecord],
        decoded: list[Decoded] | None = None,
        publisher: ThreadPoolExecutor | None = None,
    ) -> BatchResult:
        """`publisher`: the loop's publisher thread, for chunk publishes where the store
        allows them during the apply; without it they run on this thread."""
        if decoded is None:
            decoded = self.decode(records)
        # The last chunk's publish, when it runs on the publisher thread (PostgreSQL).
        chunk_publish: Future[int] | None = None
        if not self.store.publishes_while_applying:
            publisher = None

        def publish_chunk() -> None:
            nonlocal chunk_publish
            if publisher is None:
                self.publish()
                return
            if chunk_publish is not None:
                chunk_publish.result()  # one in flight; its errors surface here
            chunk_publish = publisher.submit(self.publish)

        # Keep-alive polls run on this thread only (the consumer is not thread-safe): a
        # lane's chunk commit asks for one, and this thread, waiting for the lanes, polls.
        polled_for: threading.Event | None = None

        def attempt(items: list[Decoded], progress: bool) -> BatchResult:
            # The sites it applies events of: transactions of one site take turns (ADR 0010).
            with self.store.transaction(lanes.sites_of(items)) as tx:  # step 1

                def checkpoint() -> None:
                    # A chunk of a big recompute: its state and commands are committed (step
                    # 1), then its commands go out (step 2) while the next chunk is computed;
                    # the input offset moves only once the whole batch is done (step 3).
                    tx.commit()
                    with chunk_lock:
                        publish_chunk()
                    tx.give_turn()  # a waiting batch of these sites goes first (ADR 0010)
                    observability.progress()  # a chunk of a big recompute is progress
                    if polled_for is not None:
                        polled_for.set()
                    elif self._source is not None:
                        # A batch may outlast max.poll.interval.ms: poll (what it returns is
                        # read again later) so that the group keeps this member.
                        self._source.keep_alive()

                return apply_batch(tx, items, self.cfg, checkpoint=checkpoint, progress=progress)

        chunk_lock = threading.Lock()
        parts = lanes.split(decoded, self.lanes) if self.store.concurrent_sites else [decoded]
        try:
            if len(parts) == 1:
                result = self.retry("apply batch", lambda: attempt(decoded, True))
            else:
                polled_for = threading.Event()
                result = self._apply_lanes(parts, attempt, polled_for)
        finally:
            if chunk_publish is not None:
                chunk_publish.result()  # step 2 of every chunk before the batch's step 3
        observability.applied(
            [d.event.event_id if d.event else None for d in decoded],
            [d.event_type for d in decoded],
            result.counts,
        )
        for name, n in result.counts.items():
            self.totals[name] = self.totals.get(name, 0) + n
        self.replay_probe.after_batch(len(records), result.counts.get("events.duplicate", 0))
        first = records[0]
        # A batch may span partitions: offsets are those of the first record's partition.
        same = [
            r.offset for r in records if (r.topic, r.partition) == (first.topic, first.partition)
        ]
        log.info(
            "batch applied",
            records=len(records),
            partitions=len({(r.topic, r.partition) for r in records}),
            topic=first.topic,
            partition=first.partition,
            offset=first.offset,
            last_offset=max(same),
            commands=len(result.commands),
            dlq=result.counts.get("events.dlq", 0),
            lanes=len(parts),
        )
        return result

    def _apply_lanes(
        self,
        parts: list[list[Decoded]],
        attempt: Callable[[list[Decoded], bool], BatchResult],
        polled_for: threading.Event,
    ) -> BatchResult:
        """Each lane in its own transaction, on a thread of its own (ADR 0013); then the
        batch's counters and next input offsets in one more transaction, once every lane has
        committed: that commit ends step 1."""
        if self._lane_pool is None:
            self._lane_pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="segsync-lane")
        run = self._lane_pool.submit
        futures = [run(self.retry, "apply batch", partial(attempt, p, False)) for p in parts]
        while True:
            _, pending = wait(futures, timeout=0.2)
            if polled_for.is_set() and self._source is not None:
                polled_for.clear()
                self._source.keep_alive()  # a lane committed a chunk of a long recompute
            if not pending:
                break
        result = lanes.merge([f.result() for f in futures])  # a lane's error surfaces here
        self.retry("save offsets", lambda: self._save_progress(result))
        return result

    def _save_progress(self, result: BatchResult) -> None:
        with self.store.transaction() as tx:
            store_progress(tx, self.cfg.group_id, result)

    def publish(self) -> int:
        with self._publishing:  # the publisher thread, or a rebalance on the main thread
            n = self.retry("publish outbox", self._outbox)
        observability.published()
        return n

    def commit_kafka(self, source: Input, offsets: dict[TP, int], wait: bool = True) -> None:
        try:
            source.commit(offsets, wait)
        except Exception as exc:  # lag bookkeeping only: the store holds the real offsets
            log.warning("kafka offset commit failed", error=str(exc))

    def caught_up(self, source: Input, catch_up: CatchUp) -> bool:
        if not source.joined:  # nothing assigned yet: nothing to tell
            return False
        done = self.retry("load offsets", lambda: self.store.all_offsets(self.cfg.group_id))
        return catch_up.reached(source, done)

    def retry(self, what: str, fn: Callable[[], R]) -> R:
        """`fn()`, retried while it fails transiently (`with_retries`), within the deadline."""
        return with_retries(what, fn, self.store.is_transient, self.retry_deadline_s)
