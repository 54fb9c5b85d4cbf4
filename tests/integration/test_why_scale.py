"""`segsync why` answers from the store in under a second for one user among 1,000,000
(every read is an index lookup by user, then by that user's courses and segments)."""

from __future__ import annotations

import time

import pytest

from tests.support.scenario_kit import T0, migrated
from worker.ops.why import explain

N = 1_000_000
SERIES = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last)"
# Each user: enrolled in one of 50 courses by one method, member of one of 20 segments,
# justified by one of 50 group links and one of 50 enrol links, with a pair of each kind.
FILL = {
    "enrollment_method": "SELECT 's', 'c' || (i % 50), 'u' || i, 'manual', :t, 'e' || i, true",
    "enrollment": "SELECT 's', 'c' || (i % 50), 'u' || i, :t, 'e' || i, true",
    "membership": "SELECT 's', 'S' || (i % 20), 'u' || i, :t, 'm' || i, true",
    "justification": "SELECT 's', 'L' || (i % 50), 'u' || i, 'c' || (i % 50), 'g' || (i % 50)",
    "pair": "SELECT 's', 'c' || (i % 50), 'g' || (i % 50), 'u' || i, 1, NULL, 'enrolled',"
    " 'e' || i, :t",
    "enrol_justification": "SELECT 's', 'E' || (i % 50), 'u' || i, 'c' || (i % 50)",
    "enrol_pair": "SELECT 's', 'c' || (i % 50), 'u' || i, 1, NULL, 'joined_segment', 'm' || i, :t",
}


@pytest.mark.slow
def test_why_for_one_user_among_a_million(db_url: str) -> None:
    from sqlalchemy import text

    with migrated(db_url) as store:
        with store.engine.begin() as conn:
            for table, rows in FILL.items():
                conn.execute(
                    text(f"{SERIES} INSERT INTO {table} {rows} FROM n"), {"last": N - 1, "t": T0}
                )
            for k in range(50):
                conn.execute(
                    text("INSERT INTO link VALUES ('s', :l, :t, :l, true, :c, :s, :g)"),
                    {"l": f"L{k}", "t": T0, "c": f"c{k}", "s": f"S{k % 20}", "g": f"g{k}"},
                )
                conn.execute(
                    text(
                        "INSERT INTO enrol_link VALUES ('s', :l, :t, :l, true, :c, :s, 'student',"
                        " 'unenrol')"
                    ),
                    {"l": f"E{k}", "t": T0, "c": f"c{k}", "s": f"S{k % 20}"},
                )
        if store.name == "postgresql":
            with store.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        explain(store, "s", "u1", None)  # warm: connection, imports
        for user in ("u123457", "u999999", "u500000"):
            started = time.perf_counter()
            doc = explain(store, "s", user, None)
            took = time.perf_counter() - started
            assert took < 1.0, f"why took {took:.3f}s for {user}"
            assert doc["desired"] and doc["desired_enrol"] and doc["group_commands"]
