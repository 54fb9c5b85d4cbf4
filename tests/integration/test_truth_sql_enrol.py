"""The enrolment rule in SQL (`enrol_pg.truth_diff`, PostgresStore's path) against the rule in
the domain (`enrol_truth.truth_diff`: `enrol_justified` in Python, SqliteStore's path), on the
same PostgreSQL store: random enrol links (some deleted, some without a course), memberships,
deletion marks at times that tie and straddle the facts' times, and stale rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from tests.integration.test_truth_sql import COURSES, MOSTLY, SEGMENTS, SRC, TIME, USERS, each
from tests.support.scenario_kit import migrated
from worker.store import enrol_pg, enrol_truth
from worker.store.sql_base import SqlStore
from worker.store.tables import (
    course_deletion,
    enrol_justification,
    enrol_link,
    membership,
    segment_deletion,
)

LINKS = ["E0", "E1", "E2"]
link_row = st.fixed_dictionaries(
    {
        "active": MOSTLY,
        "ev_time": TIME,
        "course_id": st.sampled_from([*COURSES, *COURSES, None]),
        "segment_id": st.sampled_from([*SEGMENTS, *SEGMENTS, None]),
        "role": st.sampled_from(["student", "teacher", None]),
        "on_leave": st.sampled_from(["unenrol", "suspend", None]),
    }
)
fact = st.fixed_dictionaries({"active": MOSTLY, "ev_time": TIME})


@st.composite
def stores(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    links = draw(each(LINKS, link_row))
    member = draw(each([(s, u) for s in SEGMENTS for u in USERS], fact))
    cdel = draw(st.dictionaries(st.sampled_from(COURSES), TIME, max_size=1))
    sdel = draw(st.dictionaries(st.sampled_from(SEGMENTS), TIME, max_size=1))
    rows = draw(
        st.dictionaries(
            st.tuples(st.sampled_from(LINKS), st.sampled_from(USERS)),
            st.sampled_from(COURSES),
            max_size=6,
        )
    )
    base = {"source": SRC, "ev_id": "e"}
    return {
        "enrol_link": [{**base, "link_id": a, **v} for a, v in links.items()],
        "membership": [
            {**base, "segment_id": s, "user_id": u, **v} for (s, u), v in member.items()
        ],
        "course_deletion": [{"source": SRC, "course_id": c, "at": t} for c, t in cdel.items()],
        "segment_deletion": [{"source": SRC, "segment_id": s, "at": t} for s, t in sdel.items()],
        "enrol_justification": [
            {"source": SRC, "link_id": a, "user_id": u, "course_id": c}
            for (a, u), c in rows.items()
        ],
    }


TABLES = [enrol_link, membership, course_deletion, segment_deletion, enrol_justification]


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    with migrated(pg_url) as store:
        yield store


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    store=stores(),
    # Sometimes every (link, user) pair (the bulk form), sometimes a few.
    candidates=st.one_of(
        st.just({(a, u) for a in LINKS for u in USERS}),
        st.sets(st.tuples(st.sampled_from(LINKS), st.sampled_from(USERS)), min_size=1),
    ),
)
def test_sql_enrol_rule_equals_domain_rule(
    pg_store: SqlStore, store: dict[str, list[dict[str, Any]]], candidates: set[tuple[str, str]]
) -> None:
    with pg_store.engine.connect() as conn:
        for table in TABLES:
            conn.execute(delete(table))
            if store[table.name]:
                conn.execute(insert(table), store[table.name])
        link_ids = sorted({a for a, _ in candidates})
        users = sorted({u for _, u in candidates})
        want = enrol_truth.truth_diff(conn, SRC, link_ids, users, candidates)
        got = enrol_pg.truth_diff(conn, SRC, link_ids, users, candidates)
        assert got == want
        conn.rollback()
