"""The cycle collector's thresholds for batch loops (worker/gc_policy.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from worker import gc_policy


@pytest.fixture()
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_for_batches_sets_the_process_thresholds(restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert gc_policy.for_batches() == (50_000, 20, 100)
    assert gc.get_threshold() == (50_000, 20, 100)


class _Cycle:
    def __init__(self) -> None:
        self.me = self  # garbage only the cycle collector can free


def _young() -> tuple[int, int]:
    stats = gc.get_stats()[0]
    return stats["collections"], stats["collected"]


def test_cycles_wait_for_the_threshold_then_are_collected(restored: None) -> None:
    gc_policy.for_batches()
    gc.collect()
    runs, freed = _young()
    for _ in range(10_000):  # ~20,000 net new containers: below 50,000, no collection
        _cycle = _Cycle()
    assert _young()[0] == runs
    for _ in range(40_000):  # past the threshold: a young collection frees the cycles
        _cycle = _Cycle()
    after_runs, after_freed = _young()
    assert after_runs > runs
    assert after_freed - freed >= 10_000
