"""Database URLs as the state store reads them: the settings' check (SQLAlchemy's parser,
imported only there) and which store a URL names, for decisions made before the store is
opened (`segsync run` starts the publisher process first, ADR 0015)."""

from __future__ import annotations

from collections.abc import Mapping


def check_database_url(value: str, drivers: Mapping[str, tuple[str, ...]], examples: str) -> str:
    """`value` if the store can open it, else ValueError with a one-line reason."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL; expected {examples}") from None
    except ValueError as exc:  # e.g. a port that is not a number (the message quotes only it)
        raise ValueError(f"not a database URL ({exc}); expected {examples}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in drivers:
        raise ValueError(f"database {backend!r} is not supported; expected {examples}")
    # No driver named: SQLAlchemy's default for the backend (psycopg2 before SQLAlchemy 2.1).
    driver = driver or url.get_dialect().driver
    if driver not in drivers[backend]:
        raise ValueError(
            f"driver {driver!r} is not supported; use {backend}+{drivers[backend][0]}://"
        )
    if backend == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    ):
        # Every connection would see its own empty database: no state to keep guarantees.
        raise ValueError(
            "an in-memory SQLite database cannot keep the state: name a file, "
            "e.g. sqlite:///segsync.sqlite"
        )
    return value


def is_embedded(url: str) -> bool:
    """SQLite (the embedded default); anything else is PostgreSQL (`open_store`)."""
    return url.startswith("sqlite")


def outbox_in_own_process(url: str) -> bool:
    """Whether `segsync run` publishes the outbox from a process of its own: on a store whose
    writers do not wait for each other (PostgreSQL, `publishes_while_applying`); SQLite has
    one writer, and its publish stays in the worker's process."""
    return not is_embedded(url)
