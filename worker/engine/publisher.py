"""Publishes the outbox: the second step of every checkpoint (after the state commit)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Engine, text

from worker.store import outbox_repo
from worker.store.db import is_postgres
from worker.store.outbox_repo import PendingRecord

# One publisher at a time across workers sharing a PostgreSQL, so that per-pair command
# order on the topic is outbox order (a pair's later transition always has a larger seq).
PUBLISH_LOCK = 0x5E65_0001


class RecordSink(Protocol):
    """Publishes records and returns only once all are acknowledged (acks=all)."""

    def send_all(self, records: list[PendingRecord]) -> None: ...


def publish_pending(engine: Engine, sink: RecordSink, batch: int = 5000) -> int:
    """Publish every outbox row, oldest first; rows are deleted only after the acks."""
    total = 0
    while True:
        with _publisher_connection(engine) as conn, conn.begin():
            if is_postgres(conn):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
            rows = outbox_repo.pending(conn, batch)
            if not rows:
                return total
            # A crash after the send and before this delete re-publishes the same bytes: the
            # command ids are deterministic, so the duplicate is harmless by contract.
            sink.send_all(rows)
            outbox_repo.remove(conn, [r.seq for r in rows])
            total += len(rows)


def _publisher_connection(engine: Engine):  # type: ignore[no-untyped-def]
    conn = engine.connect()
    if is_postgres(engine):
        # The advisory lock already serialises publishers; SSI here would only add aborts.
        conn = conn.execution_options(isolation_level="READ COMMITTED")
    return conn
