"""Fetch rows by many composite keys in a way every planner turns into index scans.

A row-value IN list (`(a, b, c) IN ((…), …)`) of hundreds of keys makes PostgreSQL fall back
to a sequential scan. Instead: equality on the leading column and one IN list per other
column (an index scan with array keys), then the exact key filter in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

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
    """Rows (key columns first, then `more`) whose key is one of `keys`."""
    wanted = set(keys)
    grouped: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for k in wanted:
        grouped[k[0]].append(k)
    n = len(key_cols)
    cols = [table.c[c] for c in key_cols]
    for first, ks in sorted(grouped.items()):
        for part in chunks(sorted(ks)):
            conds = [cols[0] == first]
            conds += [cols[i].in_(sorted({k[i] for k in part})) for i in range(1, n)]
            for row in conn.execute(select(*cols, *more).where(*conds)):
                values = tuple(row)
                if values[:n] in wanted:
                    yield values
