"""Fetch rows by many composite keys in a way every planner turns into index scans.

A row-value IN list (`(a, b, c) IN ((…), …)`) of hundreds of keys makes a planner fall back
to a sequential scan. PostgreSQL joins the unnested keys against the index (`pg.by_keys`);
SQLite gets equality on the leading column and, per other column, IN the values of a JSON
array (an index scan with array keys), then the exact key filter in Python.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, String, Table, bindparam, func, select
from sqlalchemy.engine import Connection

from worker.store import pg
from worker.store.db import is_postgres

T = TypeVar("T")
CHUNK = 1000


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def by_keys(
    conn: Connection,
    table: Table,
    key_cols: Sequence[str],
    keys: Iterable[tuple[Any, ...]],
    *more: Any,
) -> Iterator[tuple[Any, ...]]:
    """Rows (key columns first, then `more`, columns of `table`) whose key is one of `keys`."""
    wanted = set(keys)
    if is_postgres(conn):
        yield from pg.by_keys(conn, table, key_cols, wanted, [m.name for m in more])
        return
    grouped: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for k in wanted:
        grouped[k[0]].append(k)
    n = len(key_cols)
    stmt = _sqlite_stmt(table, tuple(key_cols), more)
    for first, ks in sorted(grouped.items()):
        for part in chunks(sorted(ks)):
            params: dict[str, Any] = {"k0": first}
            params.update({f"k{i}": json.dumps(sorted({k[i] for k in part})) for i in range(1, n)})
            for row in conn.execute(stmt, params):
                values = tuple(row)
                if values[:n] in wanted:
                    yield values


def _sqlite_stmt(table: Table, key_cols: tuple[str, ...], more: Sequence[Any]) -> Select[Any]:
    """Equality on the leading key column, and each other one IN the values of one JSON
    array parameter (`json_each`): one statement whatever the number of values, where an
    expanding IN list is rendered again, parameter by parameter, for every execution (a
    tenth of the embedded store's CPU on the benchmark's history)."""
    cols = [table.c[c] for c in key_cols]
    conds = [cols[0] == bindparam("k0")]
    for i in range(1, len(cols)):
        values = func.json_each(bindparam(f"k{i}", type_=String)).table_valued("value")
        conds.append(cols[i].in_(select(values.c.value)))
    return select(*cols, *more).where(*conds)
