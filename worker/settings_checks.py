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
    """A URL the state store can open (checked by `worker.store.urls`, the one place that
    parses database URLs with the database libraries)."""
    from worker.store.urls import check_database_url

    return check_database_url(value, DRIVERS, _EXAMPLES)


def client_id(instance_id: str | None) -> str:
    """The default Kafka client.id of this process (see settings.py)."""
    if instance_id:
        return f"segsync-{instance_id}"
    return f"segsync-{socket.gethostname() or 'host'}-{os.getpid()}"
