"""Site locks: on a shared PostgreSQL, batches of the same LMS site take turns.

Several workers apply batches at once under SERIALIZABLE (ADR 0002). A batch of thousands of
events reads and writes rows of every link, user and course it touches, so two such batches
on one site nearly always form a dangerous structure: measured with two workers on the
benchmark's history, 18 of 41 batch attempts were aborted and redone, and three workers were
slower than one (ADR 0010). Each batch now first takes a session-level advisory lock per site
it holds events of, outside any transaction: the batch's snapshot is taken after the locks
are granted, so it sees every write of the batch that held them before. The locks are
released after the batch's last commit; a big recompute, which commits chunk by chunk, gives
its turn after each chunk's commit (`Held.pass_turn`). Uncontended, taking and releasing
are one round trip each (a thin batch's latency is its round trips, ADR 0009); a site in
use is waited for in key order, so two workers never wait on each other in a cycle.

SERIALIZABLE stays: the locks only keep batches of one site from overlapping; anything else
that writes the store (ops commands, a worker of another version) is still caught by SSI. A
lock wait is bounded (`WAIT`): past it the attempt fails as transient and is retried, so a
holder stuck on an outage never parks the other workers silently. A session that dies (kill
-9, lost connection) releases its locks with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

# The two-key advisory lock space (class, key), apart from the publisher's one-key lock.
LOCK_CLASS = 0x5E65
WAIT = "15s"  # a lock wait longer than this fails the attempt (SQLSTATE 55P03): retried

_TRY = "SELECT bool_and(pg_try_advisory_lock(%s, k)) FROM unnest(%s::integer[]) AS k"
_TAKE = "SELECT count(pg_advisory_lock(%s, k)) FROM unnest(%s::integer[]) AS k"
_FREE = "SELECT pg_advisory_unlock_all()"


def lock_keys(sites: Collection[str]) -> list[int]:
    """A stable 32-bit key per site, sorted: every worker takes them in the same order.
    Two sites may share a key; they then take turns too, which costs time, never safety."""
    keys = {zlib.crc32(s.encode()) - 0x8000_0000 for s in sites}
    return sorted(keys)


def take(conn: Connection, sites: Collection[str], wait: str = WAIT) -> bool:
    """Lock the sites for this session (before its transaction begins); False if none."""
    keys = lock_keys(sites)
    if not keys:
        return False
    raw = _autocommit(conn)
    try:
        if not raw.execute(_TRY, (LOCK_CLASS, keys)).fetchone()[0]:
            # A site in use: give back what was granted, then wait in key order.
            raw.execute(_FREE)
            raw.execute("SELECT set_config('lock_timeout', %s, false)", (wait,))
            try:
                raw.execute(_TAKE, (LOCK_CLASS, keys))
            finally:
                raw.execute("RESET lock_timeout")
    except BaseException as exc:
        # Timed out on a later key with earlier ones granted: give those back before the
        # connection returns to the pool, or another worker would wait on them.
        free(conn)
        raise _as_sqlalchemy(exc, _TAKE) from exc
    raw.autocommit = False
    return True


def free(conn: Connection) -> None:
    """Release every advisory lock of the session. Should that fail, the connection is
    dropped: its session ends and the server releases the locks with it."""
    try:
        _autocommit(conn).execute(_FREE)
        conn.connection.driver_connection.autocommit = False  # type: ignore[union-attr]
    except Exception:
        conn.invalidate()


class Held:
    """The sites one batch holds, on its connection."""

    def __init__(self, conn: Connection, sites: Collection[str]) -> None:
        self.conn = conn
        self.sites = sites

    def pass_turn(self) -> None:
        """Between two committed chunks: released and taken again, so a batch waiting for
        one of the sites goes first (PostgreSQL grants a freed lock to its waiters)."""
        free(self.conn)
        take(self.conn, self.sites)

    def free(self) -> None:
        free(self.conn)


def _as_sqlalchemy(exc: BaseException, statement: str) -> BaseException:
    """psycopg's error as SQLAlchemy raises it elsewhere (a lock timeout: OperationalError),
    so that the store's `is_transient` judges it like any other statement's."""
    import psycopg  # only a PostgreSQL store gets here; an embedded worker never loads it

    if isinstance(exc, psycopg.Error):
        return DBAPIError.instance(statement, None, exc, psycopg.Error)
    return exc


def _autocommit(conn: Connection) -> Any:
    """The session's psycopg connection, out of any transaction: a statement on it runs and
    commits alone (the SQLAlchemy connection holds no transaction here)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.autocommit = True
    return raw
