"""Drive the engine directly (decode → apply_batch → commit) without Kafka, and read what
it put in the outbox. For store-level tests of the engine on SQLite and PostgreSQL (the
outbox is read with SQL, past the port, so that a port bug cannot hide itself)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from tests.support.histories import to_record
from tests.support.reference import Ev
from worker.destinations import COMMAND
from worker.engine.apply import BatchConfig, apply_batch
from worker.engine.records import InRecord, decode
from worker.store.sql_base import SqlStore
from worker.store.tables import metadata, outbox

CFG = BatchConfig(group_id="g", chunk=3)


def records_of(events: Sequence[Ev], topic: str = "in", binary_every: int = 3) -> list[InRecord]:
    out = []
    for i, e in enumerate(events):
        key, value, headers = to_record(e, binary=(i % binary_every == 1))
        out.append(InRecord(topic, 0, i, key, value, headers, 1_700_000_000_000))
    return out


def apply_in_batches(
    store: SqlStore, records: Sequence[InRecord], batch: int, cfg: BatchConfig = CFG
) -> None:
    for i in range(0, len(records), batch):
        decoded = [decode(r) for r in records[i : i + batch]]
        with store.transaction() as tx:
            apply_batch(tx, decoded, cfg, checkpoint=tx.commit)


def outbox_commands(store: SqlStore, destination: str = COMMAND) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        q = select(outbox.c.value).where(outbox.c.destination == destination)
        rows = conn.execute(q.order_by(outbox.c.seq)).all()
    return [json.loads(r[0]) for r in rows]


def wipe(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
