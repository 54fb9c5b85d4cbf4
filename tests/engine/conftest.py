"""The engine tests' store: a migrated database of the parametrised backend (SQLite and
PostgreSQL, see `db_url` in tests/conftest.py), disposed after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scenario_kit import migrated
from worker.store.sql_base import SqlStore


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    with migrated(db_url) as store:
        yield store
