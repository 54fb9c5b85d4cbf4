"""SqliteStore: the embedded default and the reference. The justification rule is decided
in the domain, in Python, from facts read by index (`truth_sqlite`)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from worker.domain.justify import Diff
from worker.ports import Sample
from worker.store import truth_sqlite
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx

HELD_SQL = (
    "SELECT count(*) FROM held_command hc JOIN held_batch hb ON hb.id = hc.batch_id "
    "WHERE hb.status = 'held'"
)


class SqliteTx(SqlTx):
    def truth_diff(
        self,
        source: str,
        link_ids: Sequence[str],
        users: Sequence[str],
        candidates: Sequence[tuple[str, str]] | None = None,
    ) -> Diff:
        return truth_sqlite.truth_diff(self.conn, source, link_ids, users, candidates)


class SqliteStore(SqlStore):
    name = "sqlite"
    tx_class = SqliteTx

    def _read_connection(self) -> Connection:
        # A deferred BEGIN (worker.store.db): in WAL mode it reads without waiting for a
        # writer, e.g. the publisher's transaction while it waits for acks.
        return self.engine.connect().execution_options(sqlite_read_only=True)

    def sample(self) -> Sample:
        # A raw autocommit connection: reads only, takes no write lock, never waits for the
        # loop's BEGIN IMMEDIATE.
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            backlog = int(cur.execute("SELECT count(*) FROM outbox").fetchone()[0])
            held: int | None = None
            with contextlib.suppress(Exception):  # no brake tables in this store yet
                held = int(cur.execute(HELD_SQL).fetchone()[0])
            cur.close()
        finally:
            raw.close()
        return Sample(backlog, held)
