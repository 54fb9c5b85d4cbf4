"""Both kinds together against the independent reference, straight on the store: random
multi-site histories mixing enrolment methods, group links and segment enrol links, shuffled,
duplicated, in random batch sizes, on SQLite and PostgreSQL. Group commands must follow
desired() (enrolled by any method), enrolment commands desired_enrol()."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.engine_harness import apply_in_batches, outbox_commands, records_of, wipe
from tests.support.histories import random_history, shuffled_with_duplicates
from tests.support.reference import check, check_enrol, desired, desired_enrol
from worker.destinations import COMMAND, ENROL_COMMAND
from worker.store.sql_base import SqlStore


def verdicts(store: SqlStore, history: list) -> tuple[list[str], list[str]]:  # type: ignore[type-arg]
    groups = check(outbox_commands(store, COMMAND), desired(history))
    enrols = check_enrol(outbox_commands(store, ENROL_COMMAND), desired_enrol(history))
    return groups.violations, enrols.violations


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 150),
    batch=st.integers(1, 60),
    dup=st.sampled_from([0.0, 0.2]),
    span=st.sampled_from([4, 50]),
)
def test_both_kinds_match_the_reference(
    store: SqlStore, seed: int, n: int, batch: int, dup: float, span: int
) -> None:
    wipe(store)
    rng = random.Random(seed)
    history = random_history(rng, n, time_span=span, enrol=True)
    delivered = shuffled_with_duplicates(rng, history, dup)
    apply_in_batches(store, records_of(delivered), batch)
    assert verdicts(store, history) == ([], [])


def test_replay_and_reversed_order_agree(store: SqlStore) -> None:
    rng = random.Random(23)
    history = random_history(rng, 300, enrol=True)
    records = records_of(history)
    apply_in_batches(store, records, 40)
    first = (outbox_commands(store, COMMAND), outbox_commands(store, ENROL_COMMAND))
    assert first[1], "the history should produce enrolment commands"
    apply_in_batches(store, records, 13)  # a replay: nothing new
    assert (outbox_commands(store, COMMAND), outbox_commands(store, ENROL_COMMAND)) == first
    assert verdicts(store, history) == ([], [])
    wipe(store)
    apply_in_batches(store, records_of(list(reversed(history))), 7)
    assert verdicts(store, history) == ([], [])
