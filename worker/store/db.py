"""Engine creation per backend and the small dialect differences the store needs."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from worker.store import pg
from worker.store.urls import is_embedded


def make_engine(url: str) -> Engine:
    if is_embedded(url):
        engine = create_engine(url, connect_args={"timeout": 30})
        _sqlite_setup(engine)
        return engine
    # REPEATABLE READ under site turns (ADR 0013, amending 0002 and 0010): every transaction
    # that reads a site's state to change it holds that site's advisory lock from before its
    # snapshot to after its commit, so the transactions of one site run one after the other
    # and each sees all the previous one wrote; every row carries its site, so different
    # sites never meet. SERIALIZABLE added nothing to that but aborts: between transactions
    # of different sites (the apply lanes) its predicate locks conflicted on shared index
    # pages. Two writers of one row (a zombie's offsets) still abort the later one.
    # No ping at checkout: it was a round trip before every batch's reads, its transaction
    # and its publish, and in the running worker each round trip costs a GIL hand-over
    # (docs/BENCHMARKS.md). A connection that died in the pool fails its first statement
    # instead, a disconnect: SQLAlchemy then drops the whole pool, and the caller retries
    # (every store call of the loop is retried; `is_transient`).
    engine = create_engine(
        url,
        isolation_level="REPEATABLE READ",
        pool_pre_ping=False,
        pool_size=6,  # apply lanes (up to 4), the loop's reads, the publisher
        connect_args={"connect_timeout": 10, "options": pg_options(url)},
    )
    _pg_setup(engine)
    return engine


# psycopg prepares a statement after its 5th execution. A prepared statement is planned once,
# generically: planning the CTE statements again for every batch cost as much as running
# them on a thin stream (3 ms of 5 for the pairs truth diff of a 60-event batch). The few
# statements whose best plan depends on their values (`pg.CUSTOM_PLANNED`: with a generic
# plan, the pairs truth diff took 33 s instead of 2 s over the benchmark's history) are never
# prepared, so PostgreSQL plans them for their values every time. (`auto` would let it
# switch plans by its own estimate, the failure this avoids: ADR 0004.)
PG_SESSION_OPTIONS = "-c plan_cache_mode=force_generic_plan"


def _pg_setup(engine: Engine) -> None:
    import psycopg  # here, not at the top: an embedded (SQLite) worker never loads it

    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, _context: Any) -> bool:
        if statement in pg.CUSTOM_PLANNED:
            # The values written into the text, no parameters: planned for them, whatever
            # plan_cache_mode says (an unnamed statement with parameters would be generic).
            bound = psycopg.ClientCursor(cursor.connection).mogrify(statement, parameters)
            cursor.execute(bound, prepare=False)
            return True
        return False  # SQLAlchemy's own execute: psycopg prepares after 5 runs


def pg_options(url: str) -> str:
    """The session options for PostgreSQL, after any `options=` the URL already carries."""
    given = make_url(url).query.get("options")
    if isinstance(given, tuple):
        given = " ".join(given)
    return f"{given} {PG_SESSION_OPTIONS}" if given else PG_SESSION_OPTIONS


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from pysqlite so that reads and writes share one BEGIN.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL + NORMAL survives a process crash (kill -9) without losing a committed batch.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock at BEGIN (no upgrade deadlocks); readers outside the
        # engine's transactions (`sqlite_read_only`) begin deferred and never wait for one.
        read_only = conn.get_execution_options().get("sqlite_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


def combined(conn: Connection) -> AbstractContextManager[None]:
    """PostgreSQL: the upserts made inside go out at the end as one statement (`pg.combined`);
    SQLite: each at once, as always."""
    return pg.combined(conn) if is_postgres(conn) else nullcontext()


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] = (),
    increment: Sequence[str] = (),
) -> None:
    """INSERT … ON CONFLICT over many rows: replace `update` columns, add to `increment` ones."""
    if not rows:
        return
    if is_postgres(conn):
        _pg_upsert(conn, table, rows, keys, update, increment)
        return
    ins = sqlite_insert(table)
    if not update and not increment:
        stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
    else:
        sets: dict[str, Any] = {c: ins.excluded[c] for c in update}
        sets.update({c: table.c[c] + ins.excluded[c] for c in increment})
        stmt = ins.on_conflict_do_update(index_elements=list(keys), set_=sets)
    conn.execute(stmt, list(rows))


def _pg_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    increment: Sequence[str],
) -> None:
    """PostgreSQL: the whole batch as one statement over unnest() of one array per column:
    one round trip and one plan, whatever the number of rows (executemany costs one
    statement per row)."""
    cols = tuple(rows[0])
    sql = pg.upsert_sql(table.name, cols, tuple(keys), tuple(update), tuple(increment))
    params = tuple(pg.array([r[c] for r in rows], pg.col_type(table.name, c)) for c in cols)
    pg.write(conn, sql, params)  # held with the commit's other writes (`pg.combined`)


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain INSERT of many rows (one statement on PostgreSQL, executemany on SQLite)."""
    if not rows:
        return
    if is_postgres(conn):
        _pg_upsert(conn, table, rows, (), (), ())
    else:
        conn.execute(table.insert(), list(rows))


SERIALIZATION_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_serialization_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        if state in SERIALIZATION_SQLSTATES:
            return True
        # Two workers inserting the same new key under SSI can surface as a unique violation.
        if state == "23505":
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    """Errors that a retry with backoff may cure: lost connections, a locked SQLite file."""
    if is_serialization_failure(exc):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state[:2] in {"08", "57", "53"}
