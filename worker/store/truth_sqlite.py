"""SQLite's justification: the facts read by index, the rule decided in the domain
(`worker.domain.justify`): the reference the PostgreSQL statement is held equal to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.engine import Connection

from worker.domain.justify import Diff, Row, diff, justified_by_live
from worker.store import justify_repo as jr


def truth_diff(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: Sequence[tuple[str, str]] | None = None,
) -> Diff:
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
        if justified_by_live(s, enr, mem):  # `live`: active links only
            out.add((link_id, user, s.course_id, s.group_id))
    return out
