"""Opening the state store named by a URL: the one place that picks an implementation."""

from __future__ import annotations

from worker.errors import FatalError
from worker.store.db import make_engine
from worker.store.migrate import upgrade_locked
from worker.store.postgres import PostgresStore
from worker.store.sql_base import SqlStore
from worker.store.sqlite import SqliteStore


def open_store(url: str, migrate: bool = True) -> SqlStore:
    """SqliteStore for `sqlite:` URLs, PostgresStore otherwise; `migrate`: bring the schema
    to head first (under an advisory lock on PostgreSQL)."""
    engine = make_engine(url)
    store: SqlStore = SqliteStore(engine) if url.startswith("sqlite") else PostgresStore(engine)
    if migrate:
        try:
            upgrade_locked(engine)
        except Exception as exc:
            engine.dispose()
            raise FatalError(f"cannot prepare the state store: {exc}") from exc
    return store


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
