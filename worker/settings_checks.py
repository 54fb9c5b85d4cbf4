"""Checks of single setting values that would otherwise fail late, deep inside a library,
with a traceback: each raises ValueError with the reason (settings.py names the variable);
and computed defaults."""

from __future__ import annotations

import os
import re
import socket
from typing import Final

# Kafka's own rule (kafka.common.internals.Topic): these characters, 1 to 249 of them.
_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# The drivers this install has: psycopg 3 (also SQLAlchemy's default for postgresql://)
# and the standard library's sqlite3.
DRIVERS: Final = {"postgresql": ("psycopg",), "sqlite": ("pysqlite",)}
_EXAMPLES = "postgresql+psycopg://user@host/db or sqlite:///segsync.sqlite"


def topic_name(value: str) -> str:
    if not _TOPIC.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)")
    return value


def database_url(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL; expected {_EXAMPLES}") from None
    except ValueError as exc:  # e.g. a port that is not a number (the message quotes only it)
        raise ValueError(f"not a database URL ({exc}); expected {_EXAMPLES}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in DRIVERS:
        raise ValueError(f"database {backend!r} is not supported; expected {_EXAMPLES}")
    if driver and driver not in DRIVERS[backend]:
        raise ValueError(
            f"driver {driver!r} is not supported; use {backend}+{DRIVERS[backend][0]}://"
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


def client_id(instance_id: str | None) -> str:
    """The default Kafka client.id of this process (see settings.py)."""
    if instance_id:
        return f"segsync-{instance_id}"
    return f"segsync-{socket.gethostname() or 'host'}-{os.getpid()}"
