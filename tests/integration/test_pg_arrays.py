"""The array literals of the PostgreSQL fast path (`worker.store.pg.array`) round-trip any
value the store holds: ids from the LMS are arbitrary text, command values are bytes."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.store.pg import array

# The store never holds NUL or lone surrogates: the codec refuses both (tests/unit/test_codec*).
TEXT = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=12)


@pytest.fixture(scope="module")
def pg(pg_server_url: str) -> Iterator[psycopg.Connection]:
    dsn = pg_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def _back(conn: psycopg.Connection, literal: str, pg_type: str) -> list[object]:
    return [r[0] for r in conn.execute(f"SELECT unnest(%s::{pg_type}[])", (literal,))]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.one_of(st.none(), TEXT, st.sampled_from(["NULL", '"', "\\", "{,}"]))))
def test_text_round_trip(pg: psycopg.Connection, values: list[str | None]) -> None:
    assert _back(pg, array(values), "text") == values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.one_of(st.none(), st.binary(max_size=20))))
def test_bytea_round_trip(pg: psycopg.Connection, values: list[bytes | None]) -> None:
    got = _back(pg, array(values, "bytea"), "bytea")
    assert [
        v if v is None else bytes(v) for v in got if v is None or isinstance(v, bytes)
    ] == values


def test_numbers_and_booleans(pg: psycopg.Connection) -> None:
    big = [0, -1, 2**62, None]
    assert _back(pg, array(big, "bigint"), "bigint") == big
    flags = [True, False, None]
    assert _back(pg, array(flags, "boolean"), "boolean") == flags
