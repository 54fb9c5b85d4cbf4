"""The engine against the independent reference, straight on the store (no Kafka): random
multi-site histories, shuffled, duplicated, in random batch sizes, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.engine_harness import (
    apply_in_batches,
    outbox_commands,
    records_of,
    wipe,
)
from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.reference import check, desired
from worker.store.sql_base import SqlStore


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 150),
    batch=st.integers(1, 60),
    dup=st.sampled_from([0.0, 0.2]),
    span=st.sampled_from([4, 50]),  # few distinct times: ties between facts and deletions
)
def test_commands_match_reference(
    store: SqlStore, seed: int, n: int, batch: int, dup: float, span: int
) -> None:
    wipe(store)
    rng = random.Random(seed)
    history = random_history(rng, n, time_span=span)
    delivered = shuffled_with_duplicates(rng, history, dup)
    apply_in_batches(store, records_of(delivered), batch)
    verdict = check(outbox_commands(store), desired(history))
    assert verdict.violations == []


def test_replay_emits_nothing_new(store: SqlStore) -> None:
    rng = random.Random(7)
    history = random_history(rng, 300)
    records = records_of(history)
    apply_in_batches(store, records, 50)
    first = outbox_commands(store)
    apply_in_batches(store, records, 17)  # the whole topic again, other batch sizes
    assert outbox_commands(store) == first
    assert check(first, desired(history)).violations == []


def test_two_orders_same_final_state(store: SqlStore) -> None:
    rng = random.Random(11)
    history = random_history(rng, 250)
    apply_in_batches(store, records_of(history), 1)
    a = check(outbox_commands(store), desired(history))
    wipe(store)
    apply_in_batches(store, records_of(list(reversed(history))), 40)
    b = check(outbox_commands(store), desired(history))
    assert a.violations == b.violations == []
    assert a.final == b.final
