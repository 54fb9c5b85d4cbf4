"""Held removal batches of the mass-removal brake: create, fill, list, release, discard."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from worker.ports import HeldBatch, HeldRecord, OutboxRecord
from worker.store import outbox_repo
from worker.store.db import upsert
from worker.store.tables import enrol_pair, held_batch, held_command, pair


def open_batch(
    conn: Connection, source: str, cause_event_id: str, cause_type: str, detail: str
) -> int:
    """The batch of this cause, created on first use: a re-run after a crash reuses it."""
    upsert(
        conn,
        held_batch,
        [
            {
                "source": source,
                "cause_event_id": cause_event_id,
                "cause_type": cause_type,
                "detail": detail[:1000],
                "status": "held",
                "commands": 0,
            }
        ],
        ("source", "cause_event_id"),
    )
    q = select(held_batch.c.id).where(
        held_batch.c.source == source, held_batch.c.cause_event_id == cause_event_id
    )
    return int(conn.execute(q).scalar_one())


def add(conn: Connection, batch_id: int, records: Sequence[HeldRecord]) -> None:
    if not records:
        return
    rows = [
        {
            "batch_id": batch_id,
            "course_id": r.course_id,
            "group_id": r.group_id,
            "user_id": r.user_id,
            "destination": r.record.destination,
            "key": r.record.key,
            "value": r.record.value,
            "headers": outbox_repo.pack_headers(r.record.headers),
            **outbox_repo.meta_columns(r.record.meta),
        }
        for r in records
    ]
    conn.execute(insert(held_command), rows)
    conn.execute(
        update(held_batch)
        .where(held_batch.c.id == batch_id)
        .values(commands=held_batch.c.commands + len(rows))
    )


def batches(conn: Connection, status: str | None = None) -> list[HeldBatch]:
    q = select(held_batch).order_by(held_batch.c.id)
    if status:
        q = q.where(held_batch.c.status == status)
    return [
        HeldBatch(r.id, r.source, r.cause_event_id, r.cause_type, r.detail, r.status, r.commands)
        for r in conn.execute(q)
    ]


def held_count(conn: Connection) -> int:
    q = select(func.count()).select_from(held_command)
    return int(conn.execute(q).scalar_one())


def source_of(conn: Connection, batch_id: int) -> str | None:
    """The site of a held batch (None: no such batch)."""
    got = conn.execute(select(held_batch.c.source).where(held_batch.c.id == batch_id))
    return got.scalar_one_or_none()


def close(conn: Connection, batch_id: int, release: bool) -> int:
    """Release (to the outbox, in order) or discard a held batch; returns its command count.
    Either way its pairs stop queueing behind it."""
    status = conn.execute(
        select(held_batch.c.status).where(held_batch.c.id == batch_id)
    ).scalar_one_or_none()
    if status is None:
        raise LookupError(f"no held batch {batch_id}")
    if status != "held":
        raise ValueError(f"batch {batch_id} is already {status}")
    rows = conn.execute(
        select(held_command).where(held_command.c.batch_id == batch_id).order_by(held_command.c.seq)
    ).all()
    if release:
        outbox_repo.add(
            conn,
            [
                OutboxRecord(
                    r.destination,
                    r.key,
                    r.value,
                    outbox_repo.unpack_headers(r.headers),
                    meta=outbox_repo.meta_of(r),
                )
                for r in rows
            ],
        )
    conn.execute(held_command.delete().where(held_command.c.batch_id == batch_id))
    conn.execute(
        update(held_batch)
        .where(held_batch.c.id == batch_id)
        .values(status="released" if release else "discarded")
    )
    conn.execute(update(pair).where(pair.c.held_batch == batch_id).values(held_batch=None))
    conn.execute(
        update(enrol_pair).where(enrol_pair.c.held_batch == batch_id).values(held_batch=None)
    )
    return len(rows)
