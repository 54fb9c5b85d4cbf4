"""The loop's apply lanes (ADR 0013): on PostgreSQL a batch's sites are applied at once, one
transaction each, then the counters and offsets in one more; on SQLite a batch stays whole.
Driven with the in-memory input and sink of test_loop_overlap on both stores."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Collection
from contextlib import AbstractContextManager

import pytest

from tests.engine.test_loop_overlap import Recorder
from tests.support.engine_harness import records_of
from tests.support.histories import random_history
from tests.support.reference import check, desired
from tests.support.scenario_kit import Lms
from worker.engine.apply import BatchConfig, BatchResult
from worker.engine.lanes import MIN_RECORDS
from worker.engine.loop import Worker
from worker.engine.records import InRecord
from worker.errors import FatalError
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx

CFG = BatchConfig(group_id="g", chunk=5000)
BIG = 2 * MIN_RECORDS


class BigRecorder(Recorder):
    def __init__(self, store: SqlStore, records: list[InRecord], size: int = BIG) -> None:
        super().__init__(store, records)
        self.batches = [records[i : i + size] for i in range(0, len(records), size)]


def _spy(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[set[str], int]]:
    named: list[tuple[set[str], int]] = []  # (sites, thread) per transaction
    real = store.transaction

    def spy(sites: Collection[str] = ()) -> AbstractContextManager[SqlTx]:
        named.append((set(sites), threading.get_ident()))
        return real(sites)

    monkeypatch.setattr(store, "transaction", spy)
    return named


def _events_counted(store: SqlStore) -> int:
    return sum(n for k, n in store.status("g").counters.items() if k.startswith("events."))


def test_lanes_apply_each_site_apart_and_match_the_reference(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(random.Random(5), 3 * BIG, sources=4, users=40, courses=4)
    records = records_of(history)
    rec = BigRecorder(store, records)
    named = _spy(store, monkeypatch)
    Worker(store, rec, CFG, retry_deadline_s=5, apply_lanes=2).run(
        rec, ["in"], until_caught_up=True
    )

    assert check([json.loads(v) for v in rec.sent], desired(history)).violations == []
    assert store.status("g").offsets == {("in", 0): len(records)}
    assert _events_counted(store) == len(records)  # every record counted once
    every_site = {e.source for e in history}
    if store.concurrent_sites:
        lanes = [(s, t) for s, t in named if s]
        assert len(lanes) == 2 * len(rec.batches), named  # two lanes a batch
        for sites, _ in lanes:
            assert 0 < len(sites) < len(every_site)
        assert rec.loop_thread not in {t for _, t in lanes}  # lanes on threads of their own
        assert sum(not s for s, _ in named) == len(rec.batches)  # then offsets and counters
    else:
        assert [s for s, _ in named] == [every_site] * len(rec.batches)
    assert rec.consumer_threads == {rec.loop_thread}


def test_a_crash_before_the_offsets_loses_and_repeats_nothing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lanes committed, offsets not (the process dies in between): the batch comes again,
    its applied events are recognised as applied, and no command goes out twice."""
    if not store.concurrent_sites:
        pytest.skip("SQLite applies a batch whole, in one transaction: no lanes")
    history = random_history(random.Random(8), BIG, sources=3, users=40, courses=4)
    records = records_of(history)

    def die(self: Worker, result: BatchResult) -> None:
        raise FatalError("killed between the lanes' commits and the offsets")

    first = BigRecorder(store, records)
    with monkeypatch.context() as m:
        m.setattr(Worker, "_save_progress", die)
        with pytest.raises(FatalError):
            Worker(store, first, CFG, retry_deadline_s=5, apply_lanes=2).run(
                first, ["in"], until_caught_up=True
            )
    assert store.status("g").offsets.get(("in", 0), 0) == 0

    again = BigRecorder(store, records)  # from the stored offsets: the start
    Worker(store, again, CFG, retry_deadline_s=5, apply_lanes=2).run(
        again, ["in"], until_caught_up=True
    )
    sent = [json.loads(v) for v in first.sent + again.sent]
    assert check(sent, desired(history)).violations == []
    assert store.status("g").offsets == {("in", 0): len(records)}
    # The lanes had committed: their events came again and were recognised as applied.
    assert store.status("g").counters.get("events.duplicate", 0) > 0


def test_long_recomputes_in_two_lanes_keep_the_member_from_the_loop_thread(
    store: SqlStore,
) -> None:
    """Two sites' links over 300 users each, in chunks of 20: each lane commits and publishes
    chunk by chunk; the keep-alive polls they ask for run on the loop's thread."""
    history = []
    for site in ("site-a", "site-b"):
        lms = Lms(site)
        users = [f"u{i:03d}" for i in range(300)]
        history += [e for u in users for e in (lms.enrol(u, "c1", 1), lms.join(u, "S1", 1))]
        history.append(lms.link("L1", "c1", "S1", "g1", 2))
    rec = BigRecorder(store, records_of(history), size=len(history))
    worker = Worker(store, rec, BatchConfig(group_id="g", chunk=20), 5, apply_lanes=2)
    worker.run(rec, ["in"], until_caught_up=True)

    assert check([json.loads(v) for v in rec.sent], desired(history)).violations == []
    assert len(rec.sent) == 600 and store.pending(10) == []
    assert rec.consumer_threads == {rec.loop_thread}
    if store.concurrent_sites:
        assert sum(w == "keep alive" for w, _ in rec.log) >= 1
