"""What SqliteStore and PostgresStore share: the store over one Engine, a Connection per
transaction (the engine's: `worker.store.sql_tx.SqlTx`). Each subclass overrides only where
its database differs (the publish lock, the health sample, taking turns by site)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Connection

from worker.ports import (
    TP,
    Sample,
    StoreStatus,
)
from worker.store import (
    db,
    held_repo,
    outbox_repo,
    site_locks,
)
from worker.store import facts_repo as fr
from worker.store.ops_reads import OpsReads
from worker.store.outbox_side import OutboxSide
from worker.store.sql_tx import SqlTx


class SqlStore(OutboxSide, OpsReads):
    """The store over one SQLAlchemy Engine (`StateStore`)."""

    name = "sql"
    publishes_while_applying = False
    concurrent_sites = False
    tx_class: type[SqlTx] = SqlTx

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self, sites: Collection[str]) -> Iterator[SqlTx]:
        with self.engine.connect() as conn:
            held = self._take_sites(conn, sites)
            try:
                tx = self.tx_class(conn)
                if held is not None:
                    tx.pass_turn = held.pass_turn
                try:
                    yield tx
                except BaseException:
                    conn.rollback()
                    raise
                tx.commit()  # the writes held behind go first
            finally:
                if held is not None:
                    held.free()  # after the last commit, even a failed one

    def transaction(self, sites: Collection[str] = ()) -> AbstractContextManager[SqlTx]:
        return self._tx(sites)

    def _take_sites(self, conn: Connection, sites: Collection[str]) -> site_locks.Held | None:
        """SQLite has a single writer already (BEGIN IMMEDIATE): nothing to take."""
        return None

    def is_transient(self, exc: BaseException) -> bool:
        return db.is_transient(exc)

    def close(self) -> None:
        self.engine.dispose()

    def _read_connection(self) -> Connection:
        return self.engine.connect()

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A connection for reads outside the engine's transactions. It ends with a commit,
        not the pool's rollback on return: psycopg forgets every statement it prepared on a
        connection at a rollback, and the pool's connections take turns, so the loop's reads
        (processed events, offsets) made every statement of the store planned anew."""
        with self._read_connection() as conn:
            yield conn
            conn.commit()

    def _one_read(self) -> AbstractContextManager[Connection]:
        """A connection for a read of one statement (the loop's processed-event lookup and
        offsets): as `_reader` here; PostgreSQL runs it outside any transaction."""
        return self._reader()

    # --- reads ---
    def seen_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        with self._reader() as conn:
            return fr.seen_events(conn, keys)

    def load_offsets(self, group_id: str, partitions: Iterable[TP]) -> dict[TP, int]:
        with self._one_read() as conn:
            return outbox_repo.load_offsets(conn, group_id, partitions)

    def all_offsets(self, group_id: str) -> dict[TP, int]:
        with self._one_read() as conn:
            return outbox_repo.all_offsets(conn, group_id)

    def sample(self) -> Sample:
        raise NotImplementedError

    def status(self, group_id: str) -> StoreStatus:
        with self._reader() as conn:
            return StoreStatus(
                offsets=outbox_repo.all_offsets(conn, group_id),
                counters=outbox_repo.counter_totals(conn),
                outbox_backlog=outbox_repo.backlog(conn),
                held_batches=len(held_repo.batches(conn, "held")),
                held_commands=held_repo.held_count(conn),
            )

    def has_schema(self) -> bool:
        return bool(inspect(self.engine).has_table("pair"))
