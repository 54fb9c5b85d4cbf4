"""The justification of (link, user) candidates and its difference with the stored rows.

SQLite: the facts are read by index and the rule is decided in the domain
(`worker.domain.justify`). PostgreSQL: the same rule in one statement that returns only the
rows that change (`justify_pg.truth_diff`): per candidate, C instead of Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection

from worker.domain.justify import justified
from worker.engine.settle import Diff, diff
from worker.store import justify_pg
from worker.store import justify_repo as jr
from worker.store.db import is_postgres
from worker.store.justify_repo import Row


def truth_diff(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: Sequence[tuple[str, str]] | None = None,
) -> Diff:
    """Rows to add and to drop among the (link, user) candidates; None: every link of
    `link_ids` with every user of `users` (which hold the candidates in any case)."""
    if is_postgres(conn):
        if candidates is None:
            return Diff(*justify_pg.truth_diff(conn, source, links=link_ids, users=users))
        return Diff(*justify_pg.truth_diff(conn, source, candidates))
    pairs = [(a, u) for a in link_ids for u in users] if candidates is None else candidates
    existing = jr.existing(conn, source, link_ids, users)
    return diff(truth(conn, source, link_ids, users, pairs), existing, set(pairs))


def truth(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: Iterable[tuple[str, str]],
) -> set[Row]:
    """The candidates' justification, from the users' own facts (index lookups by user):
    cost follows the candidates, not the size of the courses the links touch."""
    links = jr.link_states(conn, source, link_ids)
    live = {a: s for a, s in links.items() if s.is_active()}
    courses = sorted({s.course_id for s in live.values() if s.course_id})
    segments = sorted({s.segment_id for s in live.values() if s.segment_id})
    enrolments = jr.user_facts(conn, "enrollment", source, users, courses)
    memberships = jr.user_facts(conn, "membership", source, users, segments)
    out: set[Row] = set()
    for link_id, user in candidates:
        s = live.get(link_id)
        if s is None or s.course_id is None or s.segment_id is None or s.group_id is None:
            continue
        enr = enrolments.get((s.course_id, user))
        mem = memberships.get((s.segment_id, user))
        if justified(s, enr, mem):
            out.add((link_id, user, s.course_id, s.group_id))
    return out
