"""Statements that read stored rows by the batch's keys probe an index per key on
PostgreSQL, whatever the planner estimates: never a sequential scan of the table. Joined
freely, the processed-event lookup (twice per batch) hash-joined a scan of the whole log,
every event ever applied (30-40 ms per batch at 100,000 events in the benchmark, growing
with the log), and each fold scanned its whole fact table. The check is on the plan, on a
store big enough to tempt the planner, before and after ANALYZE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.scenario_kit import migrated
from worker.store import fold_pg, pg
from worker.store.sql_base import SqlStore
from worker.store.tables import processed_event

MANY, KEYS = 60_000, 5_000


@pytest.fixture(params=["fresh statistics", "no statistics"])
def store(pg_url: str, request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    with migrated(pg_url) as s:
        with s.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO processed_event (source, event_id)"
                " SELECT 's' || (i %% 4), 'e' || i FROM generate_series(1, %s) AS i",
                (MANY,),
            )
            for table, col in (("enrollment_method", "course_id"),):
                conn.exec_driver_sql(
                    f"INSERT INTO {table} (source, {col}, user_id, method, ev_time, ev_id,"
                    " active) SELECT 's' || (i %% 4), 'c' || (i %% 40), 'u' || i, 'manual', 1,"
                    " 'e' || i, true FROM generate_series(1, %s) AS i",
                    (MANY,),
                )
            conn.exec_driver_sql(
                "INSERT INTO membership (source, segment_id, user_id, ev_time, ev_id, active)"
                " SELECT 's' || (i %% 4), 'x' || (i %% 40), 'u' || i, 1, 'e' || i, true"
                " FROM generate_series(1, %s) AS i",
                (MANY,),
            )
            if request.param == "fresh statistics":
                conn.exec_driver_sql("ANALYZE")
        yield s


def _scans(store: SqlStore, sql: str, params: Any) -> set[tuple[str, str]]:
    """(node type, relation) of every scan in the plan (not executed)."""
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    found: set[tuple[str, str]] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            found.add((node["Node Type"], node["Relation Name"]))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


def _seq(scans: set[tuple[str, str]]) -> set[str]:
    return {rel for node, rel in scans if node == "Seq Scan"}


def test_the_processed_event_lookup_probes_the_key(store: SqlStore) -> None:
    sql = pg._by_keys_sql("processed_event", ("source", "event_id"), ())
    keys = [(f"s{i % 4}", f"e{i}") for i in range(1, KEYS + 1)]
    params = (pg.array([s for s, _ in keys]), pg.array([e for _, e in keys]))
    scans = _scans(store, sql, params)
    assert ("Seq Scan", processed_event.name) not in scans, scans
    assert any(rel == processed_event.name for _, rel in scans), scans


@pytest.mark.parametrize("kind", ["enrollment", "membership"])
def test_a_fold_reads_the_stored_facts_by_key(store: SqlStore, kind: str) -> None:
    n = KEYS
    if kind == "enrollment":  # the enrolment methods
        cols: list[list[Any]] = [
            [f"s{i % 4}" for i in range(n)],
            [f"c{i % 40}" for i in range(n)],
            [f"u{i}" for i in range(n)],
            ["manual"] * n,
        ]
    else:
        cols = [[f"s{i % 4}" for i in range(n)], [f"x{i % 40}" for i in range(n)],
                [f"u{i}" for i in range(n)]]  # fmt: skip
    params = [pg.array(c) for c in cols]
    params += [pg.array([2] * n, "bigint"), pg.array([f"n{i}" for i in range(n)])]
    params.append(pg.array([True] * n, "boolean"))
    sql = fold_pg.fact_sql(kind)
    assert _seq(_scans(store, sql, tuple(params))) == set()
