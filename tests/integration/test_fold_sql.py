"""Newest-wins folding in SQL (`fold_pg`, PostgresStore's `fold_facts` / `fold_marks`) against
the domain rule (`worker.domain.facts.fold`, the reference path SqliteStore runs: read, fold
in Python, write), on the same PostgreSQL store: random stored facts and batches with
repeated keys, tied and out-of-order (time, id) stamps, ids whose byte order differs from a
locale's, links deleted and re-created. Same verdicts, same rows afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Connection

from tests.support.scenario_kit import migrated
from worker.domain.facts import Fact, Verdict
from worker.ports import FactKey
from worker.store.facts_repo import FACT_TABLES, MARK_TABLES
from worker.store.postgres import PostgresTx
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx

S = "site"
TIME = st.integers(1, 4)
EVENT_ID = st.sampled_from(["a", "b", "B", "a1", "é", "Z"])  # "B" < "a" byte-wise, not in en_US
KEYS: dict[str, list[FactKey]] = {
    "enrollment": [(S, c, u, m) for c in ("c1", "c2") for u in ("u1", "u2") for m in ("", "x")],
    "membership": [(S, s, u) for s in ("s1", "s2") for u in ("u1", "u2")],
    "link": [(S, "L1"), (S, "L2")],
    "enrol_link": [(S, "E1"), (S, "E2")],
}
MARK_KEYS: dict[str, list[FactKey]] = {
    "segment": [(S, "s1"), (S, "s2")],
    "group": [(S, "c1", "g1"), (S, "c1", "g2")],
    "course": [(S, "c1")],
}


def _fact(kind: str) -> st.SearchStrategy[Fact]:
    def make(t: int, i: str, active: bool, n: int) -> Fact:
        if kind == "link" and active:
            return Fact(t, i, True, (f"c{n}", f"s{n}", f"g{n}"))
        if kind == "enrol_link" and active:
            return Fact(t, i, True, (f"c{n}", f"s{n}", "student", "unenrol"))
        return Fact(t, i, active)

    return st.builds(make, TIME, EVENT_ID, st.booleans(), st.integers(1, 2))


@st.composite
def fact_case(draw: st.DrawFn) -> tuple[str, list[tuple[FactKey, Fact]], list[Any]]:
    kind = draw(st.sampled_from(sorted(KEYS)))
    key = st.sampled_from(KEYS[kind])
    stored = draw(st.lists(st.tuples(key, _fact(kind)), max_size=4))
    batch = draw(st.lists(st.tuples(key, _fact(kind)), min_size=1, max_size=12))
    return kind, stored, batch


def _state(conn: Connection, kind: str, marks: bool = False) -> list[Any]:
    table = (MARK_TABLES if marks else FACT_TABLES)[kind][0]
    return sorted(tuple(r) for r in conn.execute(select(table)))


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as store:
        yield store


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(case=fact_case())
def test_sql_fold_equals_domain_fold(
    pg_store: SqlStore, case: tuple[str, list[tuple[FactKey, Fact]], list[Any]]
) -> None:
    kind, stored, batch = case
    results = []
    with pg_store.engine.connect() as conn:
        for fold_facts in (SqlTx.fold_facts, PostgresTx.fold_facts):
            tx = PostgresTx(conn)
            for key, f in stored:  # the stored facts, themselves folded in
                SqlTx.fold_facts(tx, kind, [(key, f)])
            verdicts: list[Verdict] = fold_facts(tx, kind, batch)
            results.append((verdicts, _state(conn, kind)))
            conn.rollback()
    assert results[0] == results[1]


@SETTINGS
@given(
    kind=st.sampled_from(sorted(MARK_KEYS)),
    data=st.data(),
)
def test_sql_mark_fold_equals_domain_fold(pg_store: SqlStore, kind: str, data: Any) -> None:
    key = st.sampled_from(MARK_KEYS[kind])
    stored = data.draw(st.lists(st.tuples(key, TIME), max_size=3))
    batch = data.draw(st.lists(st.tuples(key, TIME), min_size=1, max_size=8))
    results = []
    with pg_store.engine.connect() as conn:
        for fold_marks in (SqlTx.fold_marks, PostgresTx.fold_marks):
            tx = PostgresTx(conn)
            for k, at in stored:
                SqlTx.fold_marks(tx, kind, [(k, at)])
            verdicts: list[Verdict] = fold_marks(tx, kind, batch)
            results.append((verdicts, _state(conn, kind, marks=True)))
            conn.rollback()
    assert results[0] == results[1]
