"""Cutting DLQ copies to a size budget, and null header values (worker/engine/dlq.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.engine.dlq import NULL_HEADERS, TRUNCATED, fit, wire_size, without_nulls
from worker.store.outbox_repo import OutboxRecord

OURS = [("segsync_error", b"value is not JSON"), ("segsync_source_offset", b"7")]
header = st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=3000) | st.none())


@given(
    key=st.binary(max_size=200) | st.none(),
    value=st.binary(max_size=50_000) | st.none(),
    theirs=st.lists(header, max_size=12),
    budget=st.integers(4096, 60_000),
)
def test_a_cut_copy_fits_and_keeps_a_prefix(
    key: bytes | None,
    value: bytes | None,
    theirs: list[tuple[str, bytes | None]],
    budget: int,
) -> None:
    rec = OutboxRecord("dlq", key, value, [*theirs, *OURS], timestamp_ms=5)
    out = fit(rec, budget)
    assert wire_size(out) <= budget
    assert out.timestamp_ms == 5 and out.key == key
    if out is rec:
        return
    h = dict(out.headers)
    assert h[TRUNCATED] == str(len(value or b"")).encode()
    assert all(x in out.headers for x in OURS)
    assert (value or b"").startswith(out.value or b"")
    assert (out.value is None) == (value is None)
    kept = [x for x in out.headers if not x[0].startswith("segsync_")]
    assert kept == theirs[: len(kept)]  # dropped from the end, order kept


def test_a_small_copy_is_unchanged() -> None:
    rec = OutboxRecord("dlq", b"k", b"v" * 100, OURS)
    assert fit(rec, 1_048_576) is rec


def test_null_header_values_become_empty_and_named() -> None:
    rec = OutboxRecord("dlq", b"k", b"v", [("a", None), ("b", b"1"), ("c", None), *OURS])
    out = without_nulls(rec)
    assert out.headers[:3] == [("a", b""), ("b", b"1"), ("c", b"")]
    assert dict(out.headers)[NULL_HEADERS] == b"0,2"
    assert without_nulls(out) is out
