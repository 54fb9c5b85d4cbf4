"""The store contract suite runs every test against both implementations of the port
(SqliteStore and PostgresStore), through the `db_url` fixture's parameters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scenario_kit import migrated
from worker.ports import StateStore


@pytest.fixture
def store(db_url: str) -> Iterator[StateStore]:
    with migrated(db_url) as s:
        yield s
