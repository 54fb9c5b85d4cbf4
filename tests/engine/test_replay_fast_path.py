"""The replay fast path on both stores: a batch of events the store has applied already is
recognised from the envelopes (one lookup) and never decoded in full; it changes nothing
and is counted as duplicates. New events in the same batch go through as usual."""

from __future__ import annotations

import random

import pytest

from tests.support.engine_harness import CFG, apply_in_batches, outbox_commands, records_of, wipe
from tests.support.histories import random_history
from worker.engine import records as records_mod
from worker.engine.apply import apply_batch
from worker.engine.records import InRecord, decode_batch
from worker.store.sql_base import SqlStore


def test_a_replay_is_skipped_before_decoding(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = random_history(random.Random(7), 300)
    recs = records_of(history)
    apply_in_batches(store, recs, 100)
    before = outbox_commands(store)
    assert before  # the history owes commands

    def no_decode(rec: InRecord, max_future_s: int | None = None) -> records_mod.Decoded:
        raise AssertionError("a replayed event was decoded in full")

    monkeypatch.setattr(records_mod, "decode", no_decode)
    decoded = decode_batch(recs, store.seen_events)
    assert all(d.replayed is not None for d in decoded)
    assert [d.event_type for d in decoded] == [e.type for e in history]
    with store.transaction() as tx:
        result = apply_batch(tx, decoded, CFG)
    assert result.commands == [] and result.counts["events.duplicate"] == len(recs)
    assert outbox_commands(store) == before


def test_new_events_beside_replayed_ones_are_decoded_and_applied(store: SqlStore) -> None:
    history = random_history(random.Random(11), 200)
    recs = records_of(history)
    apply_in_batches(store, recs[:100], 100)
    decoded = decode_batch(recs, store.seen_events)
    assert [d.replayed is not None for d in decoded] == [i < 100 for i in range(len(recs))]
    with store.transaction() as tx:
        apply_batch(tx, decoded, CFG)
    # The same as applying the whole history the usual way, on a fresh store.
    with_fast_path = outbox_commands(store)
    wipe(store)
    apply_in_batches(store, recs[:100], 100)
    apply_in_batches(store, recs, len(recs))
    assert outbox_commands(store) == with_fast_path
