"""The interpreter's cycle collector, set for a loop that reads batches of thousands of
records (`segsync run`, `segsync plan`).

CPython frees almost every object by reference counting; the cycle collector only finds
garbage that refers to itself. By default it runs a young collection every 700 net new
container objects and a full one every 100 young ones, each full one walking every live
object. A batch makes hundreds of thousands of short-lived records, views, rows and tuples,
so with the defaults a full collection ran every ~2,700 events: measured on the benchmark's
100,000-event history on PostgreSQL (docs/BENCHMARKS.md), 37 full collections took 5.1 s
and the young and middle ones 2.0 s: 29 % of the worker's CPU. With the thresholds below,
the same run made 25 young collections, one middle and no full one (0.9 s).

What it costs: cyclic garbage waits for a collection that comes later (after 50,000 net new
containers rather than 700); it is still collected, and whatever reference counting frees
(nearly everything) is freed at once as before.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def for_batches() -> tuple[int, int, int]:
    """Set the thresholds for this process; returns them (for the start-up log line)."""
    gc.set_threshold(*THRESHOLDS)
    return THRESHOLDS
