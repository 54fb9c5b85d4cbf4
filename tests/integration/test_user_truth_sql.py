"""A batch's user work in one PostgreSQL statement (`user_truth_pg`, PostgresStore's path)
against the reference path (`SqlTx.apply_user_truth`: the holdings read back, the narrowing
of `worker.domain.candidates`, then the domain's rule over the candidates, SqliteStore's
way), on the same PostgreSQL store: two sites of random links, facts, deletion marks and
stale rows, random changed courses and segments per user (some that no link is on), both
the generic plan (few changes) and the custom one. Same diff per site, same rows after."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from tests.integration.test_truth_sql import COURSES, SEGMENTS, TABLES, USERS, stores
from tests.support.scenario_kit import migrated
from worker.domain.candidates import TouchingLinks
from worker.domain.justify import Diff
from worker.store import justify_repo as jr
from worker.store import truth_sqlite, user_truth_pg
from worker.store.postgres import PostgresTx
from worker.store.sql_base import SqlStore
from worker.store.sql_tx import SqlTx
from worker.store.tables import justification

SITES = ("site", "T")  # `stores()` draws site "site"; a second draw is moved to "T"


class ReferenceTx(PostgresTx):
    """SqliteStore's path on a PostgreSQL connection: every step the generic one."""

    user_holdings = SqlTx.user_holdings
    links_touching = SqlTx.links_touching
    apply_truth_sites = SqlTx.apply_truth_sites
    apply_truth = SqlTx.apply_truth
    apply_diff = SqlTx.apply_diff
    apply_user_truth = SqlTx.apply_user_truth


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as store:
        yield store


def _site(rows: dict[str, list[dict[str, Any]]], site: str) -> dict[str, list[dict[str, Any]]]:
    return {t: [{**r, "source": site} for r in rs] for t, rs in rows.items()}


changes = st.dictionaries(
    st.tuples(st.sampled_from(SITES), st.sampled_from([*USERS, "u9"])),
    st.tuples(
        st.frozensets(st.sampled_from([*COURSES, "c9"])),
        st.frozensets(st.sampled_from([*SEGMENTS, "s9"])),
    ),
    min_size=1,
)


def _load(conn: Any, stores_: list[dict[str, list[dict[str, Any]]]]) -> None:
    for table in [*TABLES, justification]:
        conn.execute(delete(table))
        got = [r for s in stores_ for r in s[table.name]]
        if got:
            conn.execute(insert(table), got)


def _nonempty(d: dict[str, Diff]) -> dict[str, Diff]:
    return {s: x for s, x in d.items() if x.inserts or x.deletes}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=stores(), second=stores(), changed=changes, custom=st.booleans())
def test_one_statement_equals_the_reference_path(
    pg_store: SqlStore,
    first: dict[str, list[dict[str, Any]]],
    second: dict[str, list[dict[str, Any]]],
    changed: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]],
    custom: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(user_truth_pg, "FEW_CHANGES", -1 if custom else 10_000)
    results = []
    with pg_store.engine.connect() as conn:
        for cls in (ReferenceTx, PostgresTx):
            _load(conn, [_site(first, SITES[0]), _site(second, SITES[1])])
            tx = cls(conn)
            # The reference's rule is the domain's (SqliteTx.truth_diff on this connection).
            tx.truth_diff = partial(truth_sqlite.truth_diff, conn)  # type: ignore[method-assign]
            touching = TouchingLinks.of(
                SqlTx.links_touching(
                    tx,
                    {(s, c) for (s, _), (cs, _) in changed.items() for c in cs},
                    {(s, g) for (s, _), (_, gs) in changed.items() for g in gs},
                )
            )
            got = _nonempty(tx.apply_user_truth(changed, touching))
            after = sorted(tuple(r) for r in conn.execute(select(justification)))
            results.append((got, after))
            conn.rollback()
    assert results[0] == results[1]


def test_a_user_without_changes_reads_nothing(pg_store: SqlStore) -> None:
    """No change rows: no statement, no diff (the engine calls it only with work)."""
    with pg_store.engine.connect() as conn:
        assert user_truth_pg.apply_user_truth(conn, {("site", "u0"): (set(), set())}) == {}
        assert jr.user_holdings(conn, [("site", "u0")]) == {}
