"""How a batch is split into lanes by site, and put back together (worker.engine.lanes)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.engine_harness import records_of
from tests.support.scenario_kit import Lms
from worker.engine.apply import BatchResult
from worker.engine.lanes import MIN_RECORDS, merge, sites_of, split
from worker.engine.records import Decoded, InRecord, decode


def _batch(sites: list[str]) -> list[Decoded]:
    """One enrolment per entry, of that site, in this order."""
    events = [Lms(s).enrol(f"u{i}", "c1", i + 1) for i, s in enumerate(sites)]
    return [decode(r) for r in records_of(events)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=MIN_RECORDS, max_size=700))
def test_each_site_whole_in_one_lane_in_batch_order(sites: list[str]) -> None:
    items = _batch(sites)
    parts = split(items, 2)
    assert sorted(id(d) for p in parts for d in p) == sorted(id(d) for d in items)
    lanes_of_site = Counter(s for p in parts for s in sites_of(p))
    assert all(n == 1 for n in lanes_of_site.values())  # a site never in two lanes
    position = {id(d): i for i, d in enumerate(items)}
    for p in parts:
        assert [position[id(d)] for d in p] == sorted(position[id(d)] for d in p)
    assert len(parts) == min(2, len(set(sites)))


def test_sites_spread_by_size() -> None:
    # 300 a, 200 b, 150 c, 100 d, biggest first into the smaller lane: a | b, then c with b
    # (200 < 300), then d with a (300 < 350).
    items = _batch(["a"] * 300 + ["b"] * 200 + ["c"] * 150 + ["d"] * 100)
    parts = split(items, 2)
    assert [sites_of(p) for p in parts] == [{"a", "d"}, {"b", "c"}]
    assert [len(p) for p in parts] == [400, 350]
    assert len(split(items, 4)) == 4


def test_what_stays_whole() -> None:
    two_sites = _batch(["a", "b"] * (MIN_RECORDS // 2))
    assert len(split(two_sites, 2)) == 2
    assert len(split(two_sites, 1)) == 1  # one lane asked for
    assert len(split(two_sites[:-1], 2)) == 1  # a small batch
    assert len(split(_batch(["a"] * MIN_RECORDS), 2)) == 1  # one site
    bad = decode(InRecord("in", 0, 9999, b"k", b"{not json", [], 0))
    assert bad.error is not None
    assert split([*two_sites, bad], 2) == [[*two_sites, bad]]  # a DLQ record: whole


def test_records_without_a_site_go_with_the_first_lane() -> None:
    items = _batch(["a", "b"] * (MIN_RECORDS // 2))
    other = replace(Lms("b").enrol("u1", "c1", 1), type="com.example.unknown")
    (unknown,) = [decode(r) for r in records_of([other])]
    assert unknown.unknown_type is not None and unknown.event is None
    parts = split([unknown, *items], 2)
    assert parts[0][0] is unknown and len(parts) == 2


def test_merge() -> None:
    a, b = BatchResult(), BatchResult()
    a.counts.update({"x": 2})
    b.counts.update({"x": 3, "y": 1})
    a.next_offsets.update({("in", 0): 10, ("in", 1): 4})
    b.next_offsets.update({("in", 0): 12})
    a.partition_counts.update({("in", 0, "x"): 2})
    b.partition_counts.update({("in", 0, "x"): 3})
    m = merge([a, b])
    assert m.counts == Counter({"x": 5, "y": 1})
    assert m.next_offsets == {("in", 0): 12, ("in", 1): 4}
    assert m.partition_counts == Counter({("in", 0, "x"): 5})
