"""Opening the state store named by a URL: the one place that picks an implementation."""

from __future__ import annotations

import threading
import time

from worker import logs
from worker.errors import FatalError
from worker.shutdown import StopRequested
from worker.store.db import make_engine
from worker.store.migrate import upgrade_locked
from worker.store.postgres import PostgresStore
from worker.store.sql_base import SqlStore
from worker.store.sqlite import SqliteStore
from worker.store.urls import is_embedded


def open_store(url: str, migrate: bool = True) -> SqlStore:
    """SqliteStore for `sqlite:` URLs, PostgresStore otherwise; `migrate`: bring the schema
    to head first (under an advisory lock on PostgreSQL)."""
    engine = make_engine(url)
    store: SqlStore = SqliteStore(engine) if is_embedded(url) else PostgresStore(engine)
    if migrate:
        try:
            upgrade_locked(engine)
        except Exception as exc:
            engine.dispose()
            raise FatalError(f"cannot prepare the state store: {exc}") from exc
    return store


# A server that is not there yet, or not accepting connections yet (starting, restarting,
# paused): worth waiting for. A refused password or a missing database is not.
_UNREACHABLE = (
    "connection refused",
    "timeout expired",
    "server closed the connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "no such host",
    "could not translate host name",
    "database is locked",
)
LOG_EVERY_S = 30.0


def unreachable(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    state = getattr(getattr(cause, "orig", cause), "sqlstate", None) or ""
    text = str(cause).lower()
    return state.startswith("08") or state == "57P03" or any(m in text for m in _UNREACHABLE)


def open_store_waiting(url: str, deadline_s: float, stop: threading.Event) -> SqlStore:
    """`open_store` for the worker's start-up: a database that is not reachable yet (deployed
    at the same time, restarting, paused) is waited for up to `deadline_s`
    (SEGSYNC_RETRY_DEADLINE_S, as for an outage while running), one log line every 30 s; a
    stop request ends the wait. Anything else fails at once, as before."""
    log = logs.get("segsync.store")
    deadline = time.monotonic() + deadline_s
    logged_at: float | None = None
    while True:
        try:
            return open_store(url)
        except FatalError as exc:
            now = time.monotonic()
            if not unreachable(exc) or now >= deadline:
                raise
            if logged_at is None or now - logged_at >= LOG_EVERY_S:
                logged_at = now
                log.warning("waiting for the state store", error=str(exc))
            if stop.wait(min(1.0, max(0.0, deadline - now))):
                raise StopRequested("waiting for the state store") from None


def store_error(exc: BaseException) -> str | None:
    """One line for a database error raised through the store, None for anything else."""
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    cause = getattr(exc, "orig", None) or exc
    return " ".join(str(cause).split())


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return None
    return path
