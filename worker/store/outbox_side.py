"""The store's publisher side (`StateStore.publish_pending`, `pending`, `remove_pending`):
the outbox read, sent and deleted on connections of its own, outside any batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from worker.ports import PendingRecord
from worker.store import outbox_repo


class OutboxSide:
    engine: Engine

    def _one_read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _publisher_connection(self) -> Connection:
        return self.engine.connect()

    def _publish_lock(self, conn: Connection) -> None:
        return None

    def publish_pending(
        self, send: Callable[[list[PendingRecord]], None], batch: int = 5000
    ) -> int:
        total = 0
        while True:
            with self._publisher_connection() as conn, conn.begin():
                self._publish_lock(conn)
                rows = outbox_repo.pending(conn, batch)
                if not rows:
                    return total
                # A crash after the send and before this delete re-publishes the same bytes:
                # the command ids are deterministic, so the duplicate is harmless by contract.
                send(rows)
                outbox_repo.remove(conn, [r.seq for r in rows])
                total += len(rows)
            if len(rows) < batch:  # the whole outbox as this publish found it
                return total

    def pending(self, limit: int) -> list[PendingRecord]:
        with self._one_read() as conn:
            return outbox_repo.pending(conn, limit)

    def remove_pending(self, seqs: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            outbox_repo.remove(conn, seqs)
