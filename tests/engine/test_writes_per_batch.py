"""A batch that spans several sites writes each of `pair`, `enrol_pair` and `outbox` once
(worker/store/write_behind.py), and asks once which of its sites have enrol links: a
thin batch's time is mostly its number of statements, and it touched every table once per
site. On PostgreSQL those writes and the batch's bookkeeping (processed events, counters,
offsets) go out in one statement. The commands are the same as one site at a time, in the
same outbox order."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.support.engine_harness import apply_in_batches, outbox_commands, records_of, wipe
from tests.support.scenario_kit import Lms, migrated
from worker.destinations import ENROL_COMMAND
from worker.store.sql_base import SqlStore

SITES = [f"site-{c}" for c in "abcd"]
WATCHED = {
    "pair": re.compile(r'INSERT INTO "?pair"?\s', re.I),
    "enrol_pair": re.compile(r'INSERT INTO "?enrol_pair"?\s', re.I),
    "outbox": re.compile(r'INSERT INTO "?outbox"?\s', re.I),
    "enrol_link sites": re.compile(r"^\s*SELECT DISTINCT enrol_link\.source\b", re.I),
}
# Written at the commit, after everything the batch reads.
AT_COMMIT = re.compile(
    r'INSERT INTO "?(pair|enrol_pair|outbox|processed_event|counter|input_offset)"?\s', re.I
)
# PostgreSQL's reads of the user work, one statement per step for every site (SQLite's
# reference path reads site by site).
PG_READS = {
    "links touching": re.compile(r"JOIN link l ON l\.source = k\.source"),
    "user truth": re.compile(r"^\s*WITH ch AS MATERIALIZED"),  # user_truth_pg: one statement
    "pair states": re.compile(r"LEFT JOIN pair p ON p\.source = k\.source"),
    "enrol links": re.compile(r"JOIN enrol_link l ON l\.source = k\.source AND l\.link_id = k\.v"),
    "enrol link states": re.compile(r"AS k\(source, link_id\)\) k\s+JOIN enrol_link"),
    "enrol truth diff": re.compile(r"JOIN enrol_link l ON l\.source = c\.source"),
    "enrol pair states": re.compile(r"LEFT JOIN enrol_pair p ON p\.source = k\.source"),
    "enrol justification": re.compile(r'^\s*INSERT INTO "?enrol_justification"?\s', re.I),
}


@pytest.fixture
def statements(store: SqlStore) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        for name, pattern in (WATCHED | PG_READS).items():
            if pattern.search(statement):
                seen[name] += 1
        tables = {m.lower() for m in AT_COMMIT.findall(statement)}
        if tables:
            seen["commit statements"] += 1
            seen["commit tables"] += len(tables)

    event.listen(store.engine, "before_cursor_execute", count)
    yield seen
    event.remove(store.engine, "before_cursor_execute", count)


def _history(sites: list[str]) -> tuple[list[Any], list[Any]]:
    """Links on every site, then one batch: on every site a user joins and enrols."""
    setup, batch = [], []
    for n, site in enumerate(sites):
        lms = Lms(site)
        setup += [lms.link("L1", "c1", "s1", "g1", 1), lms.enrol_link("E1", "c2", "s1", 2)]
        batch += [lms.join(f"u{n}", "s1", 3), lms.enrol(f"u{n}", "c1", 4)]
    return setup, batch


def test_a_batch_over_four_sites_writes_each_table_once(
    store: SqlStore, statements: Counter[str]
) -> None:
    setup, batch = _history(SITES)
    apply_in_batches(store, records_of(setup), len(setup))
    statements.clear()
    apply_in_batches(store, records_of(batch), len(batch))
    writes = {k: v for k, v in statements.items() if k in WATCHED}
    assert writes == {"pair": 1, "enrol_pair": 1, "outbox": 1, "enrol_link sites": 1}
    if store.name == "postgresql":
        assert {k: v for k, v in statements.items() if k in PG_READS} == dict.fromkeys(PG_READS, 1)
        # The six tables written at the commit, in one statement.
        assert (statements["commit statements"], statements["commit tables"]) == (1, 6)
    else:
        assert statements["commit statements"] == statements["commit tables"] == 6
    adds = [(c["source"], c["data"]["user_id"]) for c in outbox_commands(store)]
    enrols = [(c["source"], c["data"]["user_id"]) for c in outbox_commands(store, ENROL_COMMAND)]
    assert adds == enrols == [(s, f"u{n}") for n, s in enumerate(SITES)]


def test_the_same_commands_as_one_site_at_a_time(db_url: str) -> None:
    """Four sites in one batch, or each site's events in batches of its own: same commands,
    and within a site the same outbox order."""
    setup, batch = _history(SITES)
    got = []
    for per_site in (False, True):
        with migrated(db_url) as store:
            wipe(store)
            apply_in_batches(store, records_of(setup), len(setup))
            recs = records_of(batch)
            apply_in_batches(store, recs, 2 if per_site else len(recs))
            got.append(
                (
                    [(c["id"], c["type"]) for c in outbox_commands(store)],
                    [(c["id"], c["type"]) for c in outbox_commands(store, ENROL_COMMAND)],
                )
            )
    assert got[0] == got[1] and got[0][0] and got[0][1]
