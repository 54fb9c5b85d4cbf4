"""The loop overlaps a batch's publish with polling and decoding the next one (and, where
the store publishes while it applies, with applying it: ADR 0020), and keeps the checkpoint
order per batch: state commit, then publish (acks), then the Kafka offset commit; a batch's
publish starts only after the last one's offsets went to Kafka. Only the loop's thread
touches the consumer (kafka-python's is not thread-safe), also between the chunks of a long
batch. A lone batch is published without waiting for the next poll. Driven with an
in-memory input and sink on both stores."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Collection
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.support.engine_harness import records_of
from tests.support.histories import random_history
from tests.support.reference import check, desired
from tests.support.scenario_kit import Lms
from worker import shutdown
from worker.engine.apply import BatchConfig
from worker.engine.loop import Worker
from worker.engine.records import InRecord
from worker.ports import TP, PendingRecord
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx

BATCH = 50
# One chunk per recompute: a chunk checkpoint publishes on the main thread, in the batch.
CFG = BatchConfig(group_id="g", chunk=5000)


class Recorder:
    """Input and sink at once, logging what happens in which order."""

    ack_s = 0.5  # how long a send waits for its acks

    def __init__(self, store: SqlStore, records: list[InRecord]) -> None:
        self.store = store
        self.batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
        self.assigned: set[TP] = {("in", 0)}
        self.joined = True
        self.log: list[tuple[str, int]] = []
        self.polled = 0
        self.polls_during_sends = 0
        self.sent: list[bytes] = []
        self.waits: list[bool] = []  # per Kafka commit: did the loop wait for its answer
        self.loop_thread = threading.get_ident()
        self.consumer_threads: set[int] = set()  # threads that called poll / keep_alive

    # --- input ---
    def poll(self, timeout_ms: int) -> list[InRecord]:
        self.consumer_threads.add(threading.get_ident())
        # A fetch takes a moment (a real poll is never instant): a publish started just
        # before it reaches its send meanwhile, however fast the store's reads are.
        time.sleep(0.01)
        if self.polled < len(self.batches):
            self.polled += 1
            self.log.append(("poll", self.polled))
            return self.batches[self.polled - 1]
        return []

    def end_offsets(self, topics: list[str]) -> dict[TP, int]:
        return {("in", 0): sum(len(b) for b in self.batches)}

    def position(self, tp: TP) -> int:
        return sum(len(b) for b in self.batches[: self.polled])

    def commit(self, offsets: dict[TP, int], wait: bool = True) -> None:
        self.log.append(("kafka commit", offsets[("in", 0)]))
        self.waits.append(wait)

    def keep_alive(self) -> None:
        self.consumer_threads.add(threading.get_ident())
        self.log.append(("keep alive", self.polled))

    # --- sink ---
    def send_all(self, records: list[PendingRecord]) -> None:
        # Acks take a while; meanwhile the loop polls and decodes the next batch (without
        # the overlap no poll happens during a send).
        before = self.polled
        time.sleep(self.ack_s)
        self.polls_during_sends += self.polled - before
        self.sent += [r.value or b"" for r in records]
        self.log.append(("acked", self.polled))


def test_publish_overlaps_the_next_poll_and_the_order_holds(store: SqlStore) -> None:
    history = random_history(random.Random(3), 400)
    rec = Recorder(store, records_of(history))
    worker = Worker(store, rec, CFG, retry_deadline_s=5)
    worker.run(rec, ["in"], until_caught_up=True)

    assert check([json.loads(v) for v in rec.sent], desired(history)).violations == []
    commits = [n for what, n in rec.log if what == "kafka commit"]
    assert commits == sorted(commits) and commits[-1] == 400
    # Between batches the loop does not wait for the commit's answer; the last one it does.
    assert rec.waits[-1] is True and not any(rec.waits[:-1]), rec.waits
    assert rec.polls_during_sends >= 1  # publishing overlapped polling
    # Each Kafka commit follows the acks of its batch's commands: the commit of offset n
    # comes after an ack logged once batch n / BATCH had been polled.
    for i, (what, n) in enumerate(rec.log):
        if what == "kafka commit":
            acked = [b for w, b in rec.log[:i] if w == "acked"]
            assert acked and max(acked) >= n // BATCH, rec.log[: i + 1]
    assert store.pending(10) == []
    assert rec.consumer_threads == {rec.loop_thread}


def test_a_publish_overlaps_the_next_apply_where_the_store_allows(store: SqlStore) -> None:
    """On PostgreSQL the next batch is applied while the last one's commands wait for their
    acks (ADR 0020); on SQLite (one writer) never. Either way every command goes out and each
    Kafka commit follows the acks of its batch's commands."""
    history = random_history(random.Random(3), 400)
    rec = Recorder(store, records_of(history))
    rec.ack_s = 0.2
    worker = Worker(store, rec, CFG, retry_deadline_s=5)
    real_apply, real_send = worker.apply, rec.send_all
    applies = [0, 0]  # started, ended
    overlapped: list[bool] = []  # per send: did an apply start or run while it waited

    def apply(*args: Any, **kwargs: Any) -> Any:
        applies[0] += 1
        try:
            return real_apply(*args, **kwargs)
        finally:
            applies[1] += 1

    def send_all(records: list[PendingRecord]) -> None:
        started, running = applies[0], applies[0] > applies[1]
        real_send(records)
        overlapped.append(running or applies[0] > started)

    worker.apply = apply  # type: ignore[method-assign]
    rec.send_all = send_all  # type: ignore[method-assign]
    worker.run(rec, ["in"], until_caught_up=True)

    assert check([json.loads(v) for v in rec.sent], desired(history)).violations == []
    if store.publishes_while_applying:
        assert sum(overlapped) >= 3, overlapped
    else:
        assert overlapped and not any(overlapped), overlapped
    for i, (what, n) in enumerate(rec.log):
        if what == "kafka commit":  # of offset n: after an ack logged once n / BATCH polled
            acked = [b for w, b in rec.log[:i] if w == "acked"]
            assert acked and max(acked) >= n // BATCH, rec.log[: i + 1]
    assert store.pending(10) == []


class ChunkRecorder(Recorder):
    """Also notes, per send, whether the next chunk was committed meanwhile (the outbox
    grew while the send waited for its acks)."""

    def __init__(self, store: SqlStore, records: list[InRecord]) -> None:
        super().__init__(store, records)
        self.sends_overlapped = 0

    def send_all(self, records: list[PendingRecord]) -> None:
        before = len(self.store.pending(10_000))
        time.sleep(0.1)
        self.sends_overlapped += len(self.store.pending(10_000)) > before
        self.sent += [r.value or b"" for r in records]
        self.log.append(("acked", self.polled))


def test_chunk_publishes_overlap_the_next_chunk_where_the_store_allows(store: SqlStore) -> None:
    """A link over 300 users in chunks of 20: on PostgreSQL each chunk's commands go out on
    the publisher thread while the next chunk is computed; on SQLite (one writer) inline.
    Either way every command goes out, and a batch's Kafka commit follows all its acks."""
    lms = Lms()
    users = [f"u{i:03d}" for i in range(300)]
    crowd = [e for u in users for e in (lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))]
    history = [*crowd, lms.link("L1", "c1", "S1", "g1", 2)]
    rec = ChunkRecorder(store, records_of(history))
    worker = Worker(store, rec, BatchConfig(group_id="g", chunk=20), retry_deadline_s=5)
    worker.run(rec, ["in"], until_caught_up=True)

    assert check([json.loads(v) for v in rec.sent], desired(history)).violations == []
    assert len(rec.sent) == 300 and store.pending(10) == []
    assert sum(w == "keep alive" for w, _ in rec.log) >= 300 // 20 - 1  # in chunks
    if store.publishes_while_applying:
        assert rec.sends_overlapped >= 3, rec.sends_overlapped
    else:
        assert rec.sends_overlapped == 0
    assert rec.consumer_threads == {rec.loop_thread}
    for i, (what, n) in enumerate(rec.log):
        if what == "acked":  # no Kafka commit of that batch's offsets before this ack
            commits = [m for w, m in rec.log[:i] if w == "kafka commit"]
            assert not commits or max(commits) < n * BATCH, rec.log[: i + 1]


def test_each_batch_names_the_sites_of_its_events(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop hands the store the LMS sites its batch applies events of, so that batches
    of one site take turns on a shared store (ADR 0010); a batch of none names none."""
    a, b = Lms("site-a"), Lms("site-b")
    history = [a.enrol("u1", "c1", 1), b.enrol("u2", "c2", 1)] * 10 + [a.join("u1", "S", 2)] * 5
    records = records_of(history)
    records += [
        InRecord("in", 0, len(records) + i, b"k", b"{not json", [], 0) for i in range(BATCH)
    ]
    rec = Recorder(store, records)
    named: list[set[str]] = []
    real = store.transaction

    def spy(sites: Collection[str] = ()) -> AbstractContextManager[SqlTx]:
        named.append(set(sites))
        return real(sites)

    monkeypatch.setattr(store, "transaction", spy)
    Worker(store, rec, CFG, retry_deadline_s=5).run(rec, ["in"], until_caught_up=True)
    assert named == [{"site-a", "site-b"}, set()], named


def test_a_long_batch_gives_its_turn_at_every_chunk_commit(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two chunks of a recompute the loop lets a waiting batch of the same sites go
    first (ADR 0010): right after each chunk's commit, never with a chunk in hand."""
    lms = Lms()
    users = [f"u{i:03d}" for i in range(300)]
    crowd = [e for u in users for e in (lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))]
    history = [*crowd, lms.link("L1", "c1", "S1", "g1", 2)]
    rec = Recorder(store, records_of(history))
    turns: list[bool] = []  # per turn given: was everything of the chunk committed
    real_commit, real_turn = SqlTx.commit, SqlTx.give_turn
    last: list[str] = []

    def commit(self: SqlTx) -> None:
        real_commit(self)
        last.append("commit")

    def give_turn(self: SqlTx) -> None:
        turns.append(bool(last) and last[-1] == "commit")
        last.append("turn")
        real_turn(self)

    monkeypatch.setattr(SqlTx, "commit", commit)
    monkeypatch.setattr(SqlTx, "give_turn", give_turn)
    worker = Worker(store, rec, BatchConfig(group_id="g", chunk=20), retry_deadline_s=5)
    worker.run(rec, ["in"], until_caught_up=True)
    assert len(turns) >= 300 // 20 - 1 and all(turns), turns


class ThinRecorder(Recorder):
    """A thin stream: one batch, then nothing; an empty poll waits its whole timeout, as a
    real one does, and is logged when it returns. Stops the loop after a few empty polls.
    Acks come at once."""

    ack_s = 0.0

    def poll(self, timeout_ms: int) -> list[InRecord]:
        got = super().poll(timeout_ms)
        if not got:
            time.sleep(timeout_ms / 1000)
            self.log.append(("empty poll", timeout_ms))
            if sum(what == "empty poll" for what, _ in self.log) >= 3:
                shutdown.requested.set()
        return got


def test_a_lone_batch_is_published_without_waiting_for_the_next_poll(store: SqlStore) -> None:
    """Item 6: a lone batch's commands go out as soon as it is applied, not once the next
    poll returns: no empty poll with the full timeout returns before they are acked. (It
    failed on a loop that applied on a thread of its own while polling, ADR 0016.)"""
    lms = Lms()
    history = [
        lms.enrol("u1", "c1", 1),
        lms.join("u1", "S1", 1),
        lms.link("L1", "c1", "S1", "g1", 2),
    ]
    rec = ThinRecorder(store, records_of(history))
    worker = Worker(store, rec, CFG, retry_deadline_s=5, poll_timeout_ms=1000)
    try:
        worker.run(rec, ["in"], until_caught_up=False)
    finally:
        shutdown.requested.clear()
    assert len(rec.sent) == 1, rec.log
    acked = rec.log.index(("acked", 1))
    assert ("empty poll", 1000) not in rec.log[:acked], rec.log
