"""PostgreSQL connections are not pinged at checkout (worker/store/db.py): one that died in
the pool (a server restart, an idle timeout, a terminated backend) fails its first
statement instead. That failure must be transient, and the loop's retry must then get live
connections for every kind of store call: the loop's reads, a batch's transaction, the
publish."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.support.scenario_kit import migrated
from worker.engine.apply import BatchConfig
from worker.engine.loop import Worker
from worker.ports import PendingRecord
from worker.store.sql_base import SqlStore

KEYS = {("https://lms.example/", f"e{i}") for i in range(5)}


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as store:
        yield store


def _terminate_backends(url: str) -> int:
    """Ends every other session of the test database, as a server restart would."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        admin.dispose()


class Sink:
    def __init__(self) -> None:
        self.sent: list[PendingRecord] = []

    def send_all(self, records: list[PendingRecord]) -> None:
        self.sent += records


def _fill_pool(store: SqlStore) -> None:
    # Three connections at once, so that the pool holds three idle ones afterwards.
    with store.transaction() as a, store.transaction() as b, store.transaction() as c:
        for tx in (a, b, c):
            tx.seen_events(KEYS)


def test_connections_that_died_in_the_pool_cost_one_retry(store: SqlStore, pg_url: str) -> None:
    worker = Worker(store, Sink(), BatchConfig(group_id="g"), retry_deadline_s=10)
    _fill_pool(store)
    assert _terminate_backends(pg_url) >= 3

    # The first use of a dead connection fails, and the failure is transient.
    with pytest.raises(Exception) as failed:
        store.seen_events(KEYS)
    assert store.is_transient(failed.value), failed.value

    # Retried as the loop retries, each kind of call goes through on live connections.
    assert worker.retry("seen", lambda: store.seen_events(KEYS)) == set()
    assert worker.retry("offsets", lambda: store.all_offsets("g")) == {}

    def batch() -> None:
        with store.transaction() as tx:
            tx.mark_processed(KEYS - tx.seen_events(KEYS))  # as apply_batch: the unseen only

    worker.retry("apply", batch)
    assert worker.retry("seen", lambda: store.seen_events(KEYS)) == KEYS
    assert worker.publish() == 0

    # Again with the pool full of dead connections, a batch's transaction first.
    _fill_pool(store)
    _terminate_backends(pg_url)
    worker.retry("apply", batch)
    assert worker.publish() == 0
    assert worker.retry("seen", lambda: store.seen_events(KEYS)) == KEYS
