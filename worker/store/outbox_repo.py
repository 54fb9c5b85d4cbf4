"""The transactional outbox, stored input offsets and status counters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from worker.ports import CommandMeta, Headers, OutboxRecord, PendingRecord
from worker.store import pg
from worker.store.db import insert_many, is_postgres, upsert
from worker.store.tables import counter, input_offset, outbox

# The port's records, named here too.
__all__ = ["CommandMeta", "Headers", "OutboxRecord", "PendingRecord", "meta_columns", "meta_of"]


def pack_headers(headers: Headers) -> bytes:
    if len(headers) == 1:  # a command's one header, the same on every row: packed once
        try:
            return _pack_one(headers[0])
        except TypeError:  # not hashable (a list, not a tuple): packed as any other
            pass
    return _pack(headers)


def _pack(headers: Headers | tuple[tuple[str, bytes | None], ...]) -> bytes:
    # latin-1 maps every byte to one code point, so any header value survives JSON.
    return orjson.dumps([[k, None if v is None else v.decode("latin-1")] for k, v in headers])


@lru_cache(maxsize=64)
def _pack_one(header: tuple[str, bytes | None]) -> bytes:
    return _pack((header,))


def unpack_headers(raw: bytes | None) -> Headers:
    if not raw:
        return []
    if len(raw) <= _SHORT:  # a command's headers: the same few bytes on every row
        return list(_unpack_short(raw))
    return _unpack(raw)


def _unpack(raw: bytes) -> Headers:
    return [(k, None if v is None else v.encode("latin-1")) for k, v in orjson.loads(raw)]


_SHORT = 128  # packed headers this short are cached (a DLQ copy's are longer: never cached)


@lru_cache(maxsize=64)
def _unpack_short(raw: bytes) -> tuple[tuple[str, bytes | None], ...]:
    return tuple(_unpack(raw))


def meta_columns(meta: CommandMeta | None) -> dict[str, Any]:
    """The row columns of a record's meta (the outbox and held_command tables share them)."""
    if meta is None:
        return {"command_type": None, "reason": None, "cause_time_us": None}
    return meta._asdict()


def meta_of(row: Any) -> CommandMeta | None:
    if row.command_type is None:
        return None
    return CommandMeta(row.command_type, row.reason or "", row.cause_time_us or 0)


def add(conn: Connection, records: Sequence[OutboxRecord]) -> None:
    if records:
        rows = [
            {
                "destination": r.destination,
                "key": r.key,
                "value": r.value,
                "headers": pack_headers(r.headers),
                "timestamp_ms": r.timestamp_ms,
                **meta_columns(r.meta),
            }
            for r in records
        ]
        insert_many(conn, outbox, rows)


_PENDING = select(
    outbox.c.seq,
    outbox.c.destination,
    outbox.c.key,
    outbox.c.value,
    outbox.c.headers,
    outbox.c.timestamp_ms,
    outbox.c.command_type,
    outbox.c.reason,
    outbox.c.cause_time_us,
).order_by(outbox.c.seq)
# One statement text whatever the number of rows (an IN list is compiled per call, with a
# parameter per row: that cost more than the rows' deletion).
_REMOVE_PG = "DELETE FROM outbox WHERE seq = ANY(%s::bigint[])"
_REMOVE_SQLITE = "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))"


def pending(conn: Connection, limit: int) -> list[PendingRecord]:
    """The oldest `limit` rows, read as plain tuples from the driver's cursor (no Row
    object per row: the publisher reads thousands per batch)."""
    result = conn.execute(_PENDING.limit(limit))
    try:
        fetched = result.cursor.fetchall()
    finally:
        result.close()
    return [
        PendingRecord(
            destination,
            key,
            value,
            unpack_headers(headers),
            seq,
            timestamp_ms=timestamp_ms,
            meta=None if ctype is None else CommandMeta(ctype, reason or "", cause_us or 0),
        )
        for seq, destination, key, value, headers, timestamp_ms, ctype, reason, cause_us in fetched
    ]


def remove(conn: Connection, seqs: Sequence[int]) -> None:
    if not seqs:
        return
    if is_postgres(conn):
        conn.exec_driver_sql(_REMOVE_PG, (pg.array(seqs, "bigint"),))
    else:
        conn.exec_driver_sql(_REMOVE_SQLITE, (orjson.dumps(list(seqs)).decode(),))


def backlog(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def load_offsets(
    conn: Connection, group_id: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    wanted = set(partitions)
    q = select(input_offset.c.topic, input_offset.c.partition, input_offset.c.next_offset).where(
        input_offset.c.group_id == group_id
    )
    return {(r[0], r[1]): r[2] for r in conn.execute(q) if (r[0], r[1]) in wanted}


def save_offsets(conn: Connection, group_id: str, offsets: dict[tuple[str, int], int]) -> None:
    rows = [
        {"group_id": group_id, "topic": t, "partition": p, "next_offset": o}
        for (t, p), o in sorted(offsets.items())
    ]
    upsert(conn, input_offset, rows, ("group_id", "topic", "partition"), ("next_offset",))


def all_offsets(conn: Connection, group_id: str) -> dict[tuple[str, int], int]:
    q = select(input_offset.c.topic, input_offset.c.partition, input_offset.c.next_offset).where(
        input_offset.c.group_id == group_id
    )
    return {(r[0], r[1]): r[2] for r in conn.execute(q)}


def bump_counters(conn: Connection, counts: dict[tuple[str, int, str], int]) -> None:
    rows = [
        {"topic": t, "partition": p, "name": n, "value": v}
        for (t, p, n), v in sorted(counts.items())
        if v
    ]
    upsert(conn, counter, rows, ("topic", "partition", "name"), increment=("value",))


def counter_totals(conn: Connection) -> dict[str, int]:
    q = select(counter.c.name, func.sum(counter.c.value)).group_by(counter.c.name)
    return {r[0]: int(r[1]) for r in conn.execute(q)}
