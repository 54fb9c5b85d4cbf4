"""The PostgreSQL store refreshes its tables' statistics as a first load grows them: plans
made for empty tables ran a 100,000-event load 3x slower (docs/BENCHMARKS.md)."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.scenario_kit import migrated
from worker.domain.facts import Fact
from worker.store.postgres import FIRST_ANALYZE_ROWS


def analyzed(store: object, table: str) -> int:
    engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar_one()
        )


def test_a_growing_store_is_analysed_each_time_its_writes_double(pg_url: str) -> None:
    with migrated(pg_url) as store:
        assert analyzed(store, "enrollment_method") == 0  # a fresh store: never analysed
        written, batch = 0, 1000
        while written < 4 * FIRST_ANALYZE_ROWS + batch:
            facts = [
                (("s", "c1", f"u{written + i:06d}", ""), Fact(1, f"e{written + i}", True))
                for i in range(batch)
            ]
            with store.transaction() as tx:
                tx.fold_facts("enrollment", facts)
            written += batch
        # At 5,000, 10,000 and 20,000 rows written: three times, not once per each of the 21
        # batches (autovacuum may add one of its own if its minute falls in the test).
        assert 3 <= analyzed(store, "enrollment_method") <= 4
        assert analyzed(store, "membership") >= 3  # every state table, not only the written
