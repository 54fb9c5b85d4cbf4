"""Fetch rows by many composite keys in a way every planner turns into index scans.

A row-value IN list (`(a, b, c) IN ((…), …)`) of hundreds of keys makes a planner fall back
to a sequential scan. PostgreSQL joins the unnested keys against the index (`pg.by_keys`);
SQLite gets equality on the leading column and one IN list per other column (an index scan
with array keys), then the exact key filter in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, select
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
    cols = [table.c[c] for c in key_cols]
    # Expanding bind parameters: one cached statement, no per-value SQL construction.
    conds = [cols[0] == bindparam("k0")]
    conds += [cols[i].in_(bindparam(f"k{i}", expanding=True)) for i in range(1, n)]
    stmt = select(*cols, *more).where(*conds)
    for first, ks in sorted(grouped.items()):
        for part in chunks(sorted(ks)):
            params: dict[str, Any] = {"k0": first}
            params.update({f"k{i}": sorted({k[i] for k in part}) for i in range(1, n)})
            for row in conn.execute(stmt, params):
                values = tuple(row)
                if values[:n] in wanted:
                    yield values
