"""The replay fast path's lookup runs only when it pays (worker.engine.replay_probe): before
the first batch and after a batch of mostly duplicates. A live stream of new events skips
it after its first batch; a replay takes the fast path from its first batch, or from its
second when it starts while the lookup is off; either way nothing is applied twice and no
command is sent again. Driven through the loop with an in-memory input and sink, on both
stores."""

from __future__ import annotations

import json
import random

import pytest

from tests.engine.test_loop_overlap import BATCH, Recorder
from tests.support.engine_harness import records_of
from tests.support.histories import random_history
from tests.support.reference import check, desired
from worker.engine import records as records_mod
from worker.engine.apply import BatchConfig
from worker.engine.loop import Worker
from worker.engine.records import Decoded, InRecord
from worker.engine.replay_probe import ReplayProbe
from worker.store.sql_base import SqlStore

CFG = BatchConfig(group_id="g", chunk=5000)


class Stream(Recorder):
    """The overlap tests' input and sink, its sends acked at once."""

    ack_s = 0.0


def _lookups(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each replay lookup (the store's own, outside any transaction)."""
    sizes: list[int] = []
    real = store.seen_events

    def spy(keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        sizes.append(len(keys))
        return real(keys)

    monkeypatch.setattr(store, "seen_events", spy)
    return sizes


def _full_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = records_mod.decode

    def spy(rec: InRecord, max_future_s: int | None = None) -> Decoded:
        calls.append(rec.offset)
        return real(rec, max_future_s)

    monkeypatch.setattr(records_mod, "decode", spy)
    return calls


def _history() -> list[InRecord]:
    return records_of(random_history(random.Random(5), 400))


def test_a_live_stream_looks_for_replays_before_its_first_batch_only(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(random.Random(5), 400)
    stream = Stream(store, records_of(history))
    lookups = _lookups(store, monkeypatch)
    worker = Worker(store, stream, CFG, retry_deadline_s=5)
    worker.run(stream, ["in"], until_caught_up=True)
    assert lookups == [BATCH]  # the first batch's keys, then none
    assert worker.totals.get("events.duplicate", 0) < BATCH
    assert check([json.loads(v) for v in stream.sent], desired(history)).violations == []


@pytest.mark.parametrize("probe_first", [True, False])
def test_a_replay_takes_the_fast_path_from_its_first_or_second_batch(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, probe_first: bool
) -> None:
    records = _history()
    first = Stream(store, records)
    Worker(store, first, CFG, retry_deadline_s=5).run(first, ["in"], until_caught_up=True)
    assert first.sent

    replay = Stream(store, records)  # a new consumer group over the same store
    decodes = _full_decodes(monkeypatch)
    lookups = _lookups(store, monkeypatch)
    worker = Worker(store, replay, CFG, retry_deadline_s=5)
    worker.replay_probe.wanted = probe_first
    worker.run(replay, ["in"], until_caught_up=True)

    batches = len(replay.batches)
    # Off at the start: one batch decoded in full (its duplicates found in the
    # transaction), then every batch recognised before decoding.
    assert len(decodes) == (0 if probe_first else BATCH)
    assert len(lookups) == (batches if probe_first else batches - 1)
    assert worker.totals["events.duplicate"] == len(records)
    assert replay.sent == [] and store.pending(10) == []


def test_an_assignment_turns_the_lookup_on(store: SqlStore) -> None:
    stream = Stream(store, [])
    worker = Worker(store, stream, CFG, retry_deadline_s=5)
    worker.replay_probe.wanted = False
    worker.stored_offsets({("in", 0)})
    assert worker.replay_probe.wanted


def test_the_rule() -> None:
    probe = ReplayProbe()
    assert probe.wanted  # before any batch
    probe.after_batch(100, 49)
    assert not probe.wanted
    probe.after_batch(100, 50)
    assert probe.wanted
    probe.after_batch(0, 0)
    assert not probe.wanted
    probe.on_assignment()
    assert probe.wanted
