"""PostgreSQL plans a prepared statement once (`plan_cache_mode=force_generic_plan`), except
the statements whose best plan depends on their values (`pg.CUSTOM_PLANNED`), which are never
prepared and go with their values written in. Planning every statement for every batch cost
a thin stream as much as running it; one generic plan for the pairs truth diff took 920 ms
instead of 19 for 4,800 candidates. Both halves are checked on the session itself
(`pg_prepared_statements` counts the plans each prepared statement ran), and the pairs diff
gives the same rows under both of its plans."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Connection

from tests.support.scenario_kit import migrated
from worker.store import justify_pg, pg
from worker.store.sql_base import SqlStore

SRC = "site"
USERS = [f"u{i:04d}" for i in range(300)]
LINKS = ["L1", "L2", "L3", "L4"]


@pytest.fixture
def store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as s:
        rnd = random.Random(7)
        with s.engine.begin() as conn:
            for n, link in enumerate(LINKS):
                conn.exec_driver_sql(
                    "INSERT INTO link VALUES (%s, %s, 1, %s, true, %s, %s, 'g')",
                    (SRC, link, f"e-{link}", f"c{n % 2}", f"s{n}"),
                )
            for u in USERS:
                for c in ("c0", "c1"):
                    if rnd.random() < 0.6:
                        conn.exec_driver_sql(
                            "INSERT INTO enrollment_method VALUES (%s, %s, %s, '', 2, 'e', true)",
                            (SRC, c, u),
                        )
                for seg in ("s0", "s1", "s2", "s3"):
                    if rnd.random() < 0.5:
                        conn.exec_driver_sql(
                            "INSERT INTO membership VALUES (%s, %s, %s, 2, 'e', true)",
                            (SRC, seg, u),
                        )
                if rnd.random() < 0.3:  # a row that may no longer hold
                    conn.exec_driver_sql(
                        "INSERT INTO justification VALUES (%s, 'L1', %s, 'c0', 'g')", (SRC, u)
                    )
        yield s


def _shape(sql: str) -> str:
    """The text without its placeholders: the server shows `$1` where we wrote `%(users)s`."""
    return re.sub(r"\$\d+|%\(\w+\)s|%s", "?", sql)


def _diff(conn: Connection, pairs: list[tuple[str, str]]) -> tuple[set[object], set[object]]:
    ins, dels = justify_pg.truth_diff(conn, SRC, pairs=pairs)
    return set(ins), set(dels)


def test_the_session_plans_prepared_statements_once(store: SqlStore) -> None:
    few = [(a, u) for u in USERS[:40] for a in LINKS]  # 160 candidates
    many = [(a, u) for u in USERS for a in LINKS]  # 1,200
    assert len(few) <= justify_pg.FEW_PAIRS < len(many)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
        for _ in range(8):  # psycopg prepares a statement at its 5th execution
            _diff(conn, few)
            _diff(conn, many)
            justify_pg.next_users(conn, SRC, LINKS, None, 100)
            justify_pg.truth_diff(conn, SRC, links=LINKS, users=USERS[:50])
        prepared = conn.exec_driver_sql(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        ).all()
        conn.rollback()
    texts = {_shape(r[0]) for r in prepared}
    assert _shape(justify_pg._TRUTH_FEW) in texts
    assert _shape(justify_pg._TRUTH_CROSS) in texts
    for statement, generic, custom in prepared:
        assert custom == 0 and generic >= 1, statement[:80]
    # Never prepared: they go with their values, planned for them each time.
    assert not texts & {_shape(sql) for sql in pg.CUSTOM_PLANNED}
    assert justify_pg._TRUTH_PAIRS in pg.CUSTOM_PLANNED
    assert justify_pg.NEXT_USERS in pg.CUSTOM_PLANNED


def test_the_pairs_diff_is_the_same_under_both_plans(store: SqlStore) -> None:
    many = [(a, u) for u in USERS for a in LINKS]
    with store.engine.connect() as conn:
        for _ in range(6):  # the few-candidates statement prepared, its generic plan in use
            whole = _diff(conn, many)
            ins: set[object] = set()
            dels: set[object] = set()
            for start in range(0, len(many), 200):
                i, d = _diff(conn, many[start : start + 200])
                ins |= i
                dels |= d
            assert (ins, dels) == whole
        conn.rollback()
    assert whole[0] and whole[1]  # both kinds of change are in it


def test_reads_between_batches_keep_the_prepared_statements(store: SqlStore) -> None:
    """The loop reads outside its transactions (processed events, offsets, the health
    sample). psycopg drops a connection's prepared statements at a rollback, which is how
    the pool used to end those reads: no statement of the store stayed prepared."""
    keys = {(SRC, f"e{i}") for i in range(20)}
    for _ in range(8):
        with store.transaction() as tx:
            tx.seen_events(keys)
        store.seen_events(keys)
        store.all_offsets("group")
        store.sample()
    with store.transaction() as tx:
        prepared = tx.conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").all()
    assert any("processed_event" in r[0] for r in prepared), prepared
