"""PostgreSQL writes the processed-event log without ON CONFLICT (worker/store/fold_pg.py):
a key is marked once per transaction, and a key another transaction wrote meanwhile is a
conflict the engine retries, never a silent second row or a failure that stops it."""

from __future__ import annotations

import pytest

from tests.support.scenario_kit import migrated

S = "site-a"


def test_a_key_marked_again_after_a_read_is_written_once(pg_url: str) -> None:
    with migrated(pg_url) as store:
        with store.transaction() as tx:
            tx.mark_processed([(S, "e1"), (S, "e2")])
            assert tx.seen_events([(S, "e1")]) == {(S, "e1")}  # the held marks went out
            tx.mark_processed([(S, "e1"), (S, "e3")])
        assert store.seen_events([(S, "e1"), (S, "e2"), (S, "e3")]) == {
            (S, "e1"),
            (S, "e2"),
            (S, "e3"),
        }


def test_a_key_another_transaction_wrote_is_a_conflict_retried(pg_url: str) -> None:
    with migrated(pg_url) as store:
        with store.transaction() as tx:
            tx.mark_processed([(S, "e1")])
        with pytest.raises(Exception) as raised, store.transaction() as tx:
            tx.mark_processed([(S, "e0"), (S, "e1")])
        assert store.is_transient(raised.value), raised.value
        assert store.seen_events([(S, "e0"), (S, "e1")]) == {(S, "e1")}  # nothing of it
