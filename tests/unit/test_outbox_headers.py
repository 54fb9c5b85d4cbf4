"""Outbox rows keep a record's headers as JSON (`outbox_repo.pack_headers`): any header
list comes back exactly, null values and every byte included, whether or not its packing
is one of the cached short forms (a command's one header)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.store.outbox_repo import pack_headers, unpack_headers

HEADER = st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=200))


@given(st.lists(HEADER, max_size=6))
def test_headers_come_back_exactly(headers: list[tuple[str, bytes | None]]) -> None:
    raw = pack_headers(headers)
    assert unpack_headers(raw) == headers
    assert pack_headers(headers) == raw  # a cached packing is the same bytes


def test_a_cached_unpacking_is_a_fresh_list_each_time() -> None:
    raw = pack_headers([("content-type", b"application/cloudevents+json")])
    first = unpack_headers(raw)
    assert isinstance(first, list)
    first.append(("x", None))  # a caller's change must not reach the next row's headers
    assert unpack_headers(raw) == [("content-type", b"application/cloudevents+json")]
    assert unpack_headers(None) == [] and unpack_headers(b"") == []


def test_a_header_given_as_a_list_is_packed_too() -> None:
    as_list = [["k", b"v"]]  # a caller's list instead of a tuple: not cacheable, still packed
    raw = pack_headers(as_list)  # type: ignore[arg-type]
    assert unpack_headers(raw) == [("k", b"v")]
