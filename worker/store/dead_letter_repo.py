"""Input records dead-lettered so far (once per store), by (topic, partition, offset)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.engine import Connection

from worker.ports import TP
from worker.store.db import upsert
from worker.store.tables import dead_letter


def in_range(conn: Connection, tp: TP, first: int, last: int) -> dict[int, bytes]:
    """offset -> digest of the records of `tp` dead-lettered with first <= offset <= last."""
    c = dead_letter.c
    q = select(c.offset, c.digest).where(
        c.topic == tp[0], c.partition == tp[1], c.offset >= first, c.offset <= last
    )
    return {int(r[0]): bytes(r[1]) for r in conn.execute(q)}


def record(conn: Connection, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
    """Remember (topic, partition, offset, digest); a re-created topic's record at a known
    offset replaces the old row."""
    values = [{"topic": t, "partition": p, "offset": o, "digest": d} for t, p, o, d in sorted(rows)]
    if values:
        upsert(conn, dead_letter, values, ("topic", "partition", "offset"), ("digest",))
