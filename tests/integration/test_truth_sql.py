"""The justification rule in SQL (`justify_pg.truth_diff`, PostgresStore's path) against the
rule in the domain (`truth_sqlite`: `truth` + `existing` + `diff`, SqliteStore's path), on the
same PostgreSQL store:
random links (some deleted, some without attributes), facts, deletion marks at times that
tie and straddle the facts' times, and stale justification rows."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from tests.support.scenario_kit import migrated
from worker.domain.justify import diff
from worker.store import justify_pg, truth_sqlite
from worker.store import justify_repo as jr
from worker.store.postgres import PostgresTx
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx
from worker.store.tables import (
    course_deletion,
    enrollment_method,
    group_deletion,
    justification,
    link,
    membership,
    segment_deletion,
)
from worker.store.truth_sqlite import truth

SRC = "site"
LINKS = ["L0", "L1", "L2"]
USERS = ["u0", "u1", "u2"]
COURSES, SEGMENTS, GROUPS = ["c0", "c1"], ["s0", "s1"], ["g0", "g1"]
METHODS = ["", "manual"]
TIME = st.integers(1, 5)  # few values: ties between facts and marks are common
MOSTLY = st.sampled_from([True, True, True, False])


def often(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`s` three times in four, else None: dense stores, so that rows are often justified."""
    return st.one_of(s, s, s, st.none())


link_row = st.fixed_dictionaries(
    {
        "active": MOSTLY,
        "ev_time": TIME,
        "course_id": st.sampled_from([*COURSES, *COURSES, None]),
        "segment_id": st.sampled_from(SEGMENTS),
        "group_id": st.sampled_from([*GROUPS, *GROUPS, None]),
    }
)
fact = st.fixed_dictionaries({"active": MOSTLY, "ev_time": TIME})


def each(keys: list[Any], value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[Any, Any]]:
    drawn = st.fixed_dictionaries({k: often(value) for k in keys})
    return drawn.map(lambda d: {k: v for k, v in d.items() if v is not None})


@st.composite
def stores(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    links = draw(each(LINKS, link_row))
    # Two methods per (course, user): the rule reads what they make of it together.
    enrol = draw(each([(c, u, m) for c in COURSES for u in USERS for m in METHODS], fact))
    member = draw(each([(s, u) for s in SEGMENTS for u in USERS], fact))
    cdel = draw(st.dictionaries(st.sampled_from(COURSES), TIME, max_size=1))
    sdel = draw(st.dictionaries(st.sampled_from(SEGMENTS), TIME, max_size=1))
    gdel = draw(
        st.fixed_dictionaries(
            {(c, g): st.one_of(TIME, st.none()) for c in COURSES for g in GROUPS}
        ).map(lambda d: {k: v for k, v in d.items() if v is not None})
    )
    rows = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(LINKS), st.sampled_from(USERS)),
            st.tuples(st.sampled_from(COURSES), st.sampled_from(GROUPS)),
            max_size=6,
        )
    )
    base = {"source": SRC, "ev_id": "e"}
    return {
        "link": [{**base, "link_id": a, **v} for a, v in links.items()],
        "enrollment_method": [
            {**base, "course_id": c, "user_id": u, "method": m, **v}
            for (c, u, m), v in enrol.items()
        ],
        "membership": [
            {**base, "segment_id": s, "user_id": u, **v} for (s, u), v in member.items()
        ],
        "course_deletion": [{"source": SRC, "course_id": c, "at": t} for c, t in cdel.items()],
        "segment_deletion": [{"source": SRC, "segment_id": s, "at": t} for s, t in sdel.items()],
        "group_deletion": [
            {"source": SRC, "course_id": c, "group_id": g, "at": t} for (c, g), t in gdel.items()
        ],
        "justification": [
            {"source": SRC, "link_id": a, "user_id": u, "course_id": c, "group_id": g}
            for (a, u), (c, g) in rows.items()
        ],
    }


TABLES = [link, enrollment_method, membership, course_deletion, segment_deletion, group_deletion]


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as store:
        yield store


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    store=stores(),
    # Mostly every (link, user) pair; sometimes a few, with repeats.
    candidates=st.one_of(
        st.just([(a, u) for a in LINKS for u in USERS]),
        st.just([(a, u) for a in LINKS for u in USERS]),
        st.lists(st.tuples(st.sampled_from(LINKS), st.sampled_from(USERS)), min_size=1),
    ),
)
def test_sql_rule_equals_domain_rule(
    pg_store: SqlStore, store: dict[str, list[dict[str, Any]]], candidates: list[tuple[str, str]]
) -> None:
    with pg_store.engine.connect() as conn:
        for table in [*TABLES, justification]:
            conn.execute(delete(table))
            if store[table.name]:
                conn.execute(insert(table), store[table.name])
        link_ids = sorted({a for a, _ in candidates})
        users = sorted({u for _, u in candidates})
        existing = jr.existing(conn, SRC, link_ids, users)
        want = diff(truth(conn, SRC, link_ids, users, candidates), existing, set(candidates))
        inserts, deletes = justify_pg.truth_diff(conn, SRC, candidates)
        assert (inserts, deletes) == (want.inserts, want.deletes)
        # The bulk path's form: every link of the candidates with every user of them.
        every = [(a, u) for a in link_ids for u in users]
        want = diff(truth(conn, SRC, link_ids, users, every), existing, set(every))
        got = justify_pg.truth_diff(conn, SRC, links=link_ids, users=users)
        assert got == (want.inserts, want.deletes)
        conn.rollback()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    store=stores(),
    candidates=st.one_of(
        st.none(),  # every link of the candidates with every user of them
        st.lists(st.tuples(st.sampled_from(LINKS), st.sampled_from(USERS)), min_size=1),
    ),
)
def test_sql_apply_equals_domain_diff_applied(
    pg_store: SqlStore,
    store: dict[str, list[dict[str, Any]]],
    candidates: list[tuple[str, str]] | None,
) -> None:
    """PostgresTx.apply_truth (rule, diff and writes in one statement) against the reference
    path (SqlTx.apply_truth: the domain's diff, then apply_diff): same diff, same rows after."""
    results = []
    with pg_store.engine.connect() as conn:
        for apply_truth in (SqlTx.apply_truth, PostgresTx.apply_truth):
            for table in [*TABLES, justification]:
                conn.execute(delete(table))
                if store[table.name]:
                    conn.execute(insert(table), store[table.name])
            tx = PostgresTx(conn)
            # The reference's rule is the domain's (SqliteTx.truth_diff on this connection).
            tx.truth_diff = partial(truth_sqlite.truth_diff, conn)  # type: ignore[method-assign]
            d = apply_truth(tx, SRC, LINKS, USERS, candidates)
            after = sorted(tuple(r) for r in conn.execute(select(justification)))
            results.append((d, after))
            conn.rollback()
    assert results[0] == results[1]
