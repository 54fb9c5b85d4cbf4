"""PostgreSQL fast paths: one statement per lookup, whatever the number of keys.

Values travel as one array per column (`unnest(%s::text[], …)` or `= ANY(%s::text[])`), so
the statement text never changes with the batch: psycopg parses it once and prepares it,
SQLAlchemy compiles nothing per call, and the planner sees a join against an index instead
of an IN list of a thousand parameters to estimate one by one. SQLite keeps the portable
SQLAlchemy Core statements in the repositories; both paths are run by the same tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from worker.store.tables import metadata

_TYPES = {
    "string": "text",
    "big_integer": "bigint",
    "integer": "integer",
    "boolean": "boolean",
    "large_binary": "bytea",
}


# Statements planned for their own values at every execution (never prepared): those whose
# best plan depends on how many keys come in. Every other statement is prepared and planned
# once, generically (`db.PG_SESSION_OPTIONS`); tests/integration/test_generic_plans.py.
CUSTOM_PLANNED: set[str] = set()


def custom_planned(sql: str) -> str:
    CUSTOM_PLANNED.add(sql)
    return sql


@contextmanager
def probes_by_index(conn: Connection) -> Iterator[None]:
    """The statements inside read their per-key probes by plain index scans, not bitmap
    scans: a user's two or three enrolments or memberships cost less read straight from the
    index than through a bitmap, a sort and a heap pass (the batch's user work 53 -> 47 ms;
    docs/BENCHMARKS.md, 2026-12-05 morning). Only for statements whose every scan is such a
    probe: switched off for the whole run, the bulk statements got slower. Afterwards the
    setting is what it was (a server or role may have set it). `set_config(..., true)` lasts
    until the transaction ends, so a statement that fails inside (the transaction then
    aborted) needs no restore."""
    was = conn.exec_driver_sql(_BITMAP_SCANS_OFF).scalar_one()
    yield
    conn.exec_driver_sql(_BITMAP_SCANS, (was,)).close()


# The value before, read in a subquery that runs first, and the new one in one round trip.
_BITMAP_SCANS_OFF = (
    "SELECT s.was FROM (SELECT current_setting('enable_bitmapscan') AS was OFFSET 0) s"
    " WHERE set_config('enable_bitmapscan', 'off', true) IS NOT NULL"
)
_BITMAP_SCANS = "SELECT set_config('enable_bitmapscan', %s, true)"


def _text(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array(values: Sequence[Any], pg_type: str = "text") -> str:
    """A PostgreSQL array literal, built in one pass (psycopg's generic list dumper costs
    several times more per element); the statement casts it (`%s::text[]`)."""
    if pg_type == "text":
        try:
            # Common case, one C-level join: no NULLs (join raises) and nothing to escape.
            joined = '","'.join(values)
        except TypeError:
            joined = None
        if joined is not None and "\\" not in joined and joined.count('"') == 2 * (len(values) - 1):
            return '{"' + joined + '"}' if values else "{}"
        parts = ["NULL" if v is None else _text(v) for v in values]
    elif pg_type == "bytea":
        parts = ["NULL" if v is None else '"\\\\x' + bytes(v).hex() + '"' for v in values]
    elif pg_type == "boolean":
        parts = ["NULL" if v is None else ("t" if v else "f") for v in values]
    else:  # bigint, integer
        parts = ["NULL" if v is None else str(int(v)) for v in values]
    return "{" + ",".join(parts) + "}"


def q(name: str) -> str:
    """Our identifiers are plain lower-case words; quoting keeps reserved ones ("group") safe."""
    return f'"{name}"'


@cache
def col_type(table: str, column: str) -> str:
    t = metadata.tables[table].c[column].type
    return _TYPES[type(t).__visit_name__]


@cache
def _by_keys_sql(table: str, key_cols: tuple[str, ...], more: tuple[str, ...]) -> str:
    arrays = ", ".join(f"%s::{col_type(table, c)}[]" for c in key_cols)
    names = ", ".join(f"k{i}" for i in range(len(key_cols)))
    on = " AND ".join(f"t.{q(c)} = k.k{i}" for i, c in enumerate(key_cols))
    cols = ", ".join(f"t.{q(c)}" for c in (*key_cols, *more))
    # Joined freely, 5,000 keys hash-joined a sequential scan of the whole table (the
    # processed-event log: every event ever applied, read twice per batch).
    return f"SELECT {cols} FROM unnest({arrays}) AS k({names}){probe(table, on)}"


# One row back, one character per key in the order sent: '1' applied before, '0' not. The
# rows of a replayed batch (every key seen) cost more to fetch and build than the probe.
SEEN_FLAGS_SQL = (
    "SELECT string_agg(CASE WHEN EXISTS (SELECT 1 FROM processed_event AS t"
    " WHERE t.source = k.s AND t.event_id = k.i) THEN '1' ELSE '0' END, '' ORDER BY k.n)"
    " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k(s, i, n)"
)
_FLAG = str.maketrans("01", "\x00\x01")


def seen_flags(conn: Connection, keys: Sequence[tuple[str, str]]) -> bytes:
    """Per key of `keys`, in order: 1 if the processed-event log holds it, else 0."""
    if not keys:
        return b""
    params = (array([k[0] for k in keys]), array([k[1] for k in keys]))
    got = rows(conn, SEEN_FLAGS_SQL, params)[0][0]
    return bytes(got.translate(_FLAG), "ascii")


def probe(table: str, on: str, alias: str = "t") -> str:
    """` CROSS JOIN LATERAL` the rows of `table` (as `alias`) matching `on`, the keys of the
    rows before it: one index probe per key whatever the planner estimates (the OFFSET 0
    fence keeps it from turning into a join over a scan of the whole table; ADR 0005)."""
    return (
        f" CROSS JOIN LATERAL (SELECT * FROM {q(table)} AS {alias} WHERE {on} OFFSET 0) AS {alias}"
    )


def by_keys(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    wanted: set[tuple[Any, ...]],
    more: Sequence[str],
    chunk: int = 20_000,
) -> Iterator[tuple[Any, ...]]:
    """Rows (key columns, then `more`) whose full key is in `wanted`: an index probe per
    unnested key, every leading value in the same statement."""
    sql = _by_keys_sql(table.name, tuple(key_cols), tuple(more))
    keys = sorted(wanted)
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        params = tuple(
            array([k[n] for k in part], col_type(table.name, c)) for n, c in enumerate(key_cols)
        )
        yield from rows(conn, sql, params)


def rows(conn: Connection, sql: str, params: Any) -> list[tuple[Any, ...]]:
    """Every row as a plain tuple. SQLAlchemy executes (and wraps any error, which the retry
    logic reads); the rows come straight from psycopg's cursor, without a Row object each."""
    result = conn.exec_driver_sql(sql, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


@cache
def upsert_sql(
    table: str,
    cols: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...],
    increment: tuple[str, ...],
) -> str:
    """INSERT … SELECT FROM unnest(one array per column) ON CONFLICT …, built once per shape."""
    arrays = ", ".join(f"%s::{col_type(table, c)}[]" for c in cols)
    name = q(table)
    sql = f"INSERT INTO {name} ({', '.join(map(q, cols))}) SELECT * FROM unnest({arrays})"
    if not keys:
        return sql
    sets = [f"{q(c)} = EXCLUDED.{q(c)}" for c in update]
    sets += [f"{q(c)} = {name}.{q(c)} + EXCLUDED.{q(c)}" for c in increment]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return f"{sql} ON CONFLICT ({', '.join(map(q, keys))}) {action}"


# A batch's last writes (pair histories, outbox rows, the processed-event log, counters,
# offsets) each went out on its own: six round trips at every commit, most of a thin batch's
# writes. Inside `combined` they are held and go out as one statement, each a data-modifying
# CTE: PostgreSQL runs every one exactly once, to completion, in no promised order between
# them, which is why each table may appear once (`WriteBehind` merges per table).
_COMBINE = "segsync_combine"


def write(conn: Connection, sql: str, params: tuple[Any, ...]) -> None:
    """A write that nothing in the transaction reads back before the commit: held while
    `combined` collects on this connection, else sent at once."""
    held: list[tuple[str, tuple[Any, ...]]] | None = conn.info.get(_COMBINE)
    if held is None:
        conn.exec_driver_sql(sql, params)
    else:
        held.append((sql, params))


@contextmanager
def combined(conn: Connection) -> Iterator[None]:
    """The writes made inside (`write`, one per table) go out at the end in one statement;
    nothing if the block fails."""
    held: list[tuple[str, tuple[Any, ...]]] = []
    conn.info[_COMBINE] = held
    try:
        yield
    finally:
        conn.info.pop(_COMBINE, None)
    if len(held) == 1:
        conn.exec_driver_sql(*held[0])
    elif held:
        ctes = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate(held))
        params = tuple(p for _, ps in held for p in ps)
        conn.exec_driver_sql(f"WITH {ctes} SELECT 1", params)
