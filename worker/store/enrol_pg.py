"""PostgreSQL statements of the enrolment pass over arrays (see `pg`): the enrol links of
segments, links and courses, their states, row deletions, and the enrolment rule with its
diff as one statement (`ENROL_TRUTH_DIFF`), so only the rows that change come back.

The rule is `worker.domain.enrol.enrol_justified` (SqliteStore's path, `enrol_truth`);
tests/integration/test_truth_sql.py holds the two equal on random stores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from worker.domain.enrol import EnrolLinkState
from worker.ports import ERow
from worker.store import link_kinds_pg
from worker.store.pg import array, rows

# (site, link), (site, segment) and (site, course) keys, every site at once: index probes.
LINKS_SELECTED = link_kinds_pg.links_by_keys_sql(
    "enrol_link", ("link_id", "segment_id", "course_id"), order=True
)
LINK_STATES = (
    "SELECT l.source, l.link_id, l.course_id, l.segment_id, l.role, l.on_leave, l.active,"
    " l.ev_time, cd.at, sd.at"
    " FROM (SELECT DISTINCT * FROM unnest(%s::text[], %s::text[]) AS k(source, link_id)) k"
    " JOIN enrol_link l ON l.source = k.source AND l.link_id = k.link_id"
    " LEFT JOIN course_deletion cd ON cd.source = l.source AND cd.course_id = l.course_id"
    " LEFT JOIN segment_deletion sd ON sd.source = l.source AND sd.segment_id = l.segment_id"
)
DELETE_ROWS = (
    "DELETE FROM enrol_justification j"
    " USING unnest(%s::text[], %s::text[], %s::text[]) AS d(source, link_id, user_id)"
    " WHERE j.source = d.source AND j.link_id = d.link_id AND j.user_id = d.user_id"
)
_PAIRS = (
    "SELECT DISTINCT source, link_id, user_id FROM unnest("
    "%(sources)s::text[], %(links)s::text[], %(users)s::text[]) AS c(source, link_id, user_id)"
)
# No DISTINCT (the diff's EXCEPT removes duplicates): over a function's output PostgreSQL
# estimates 200 distinct rows whatever the arrays hold, and planned for that.
_CROSS = (
    "SELECT %(source)s::text AS source, a.link_id, u.user_id"
    " FROM unnest(%(links)s::text[]) AS a(link_id)"
    " CROSS JOIN unnest(%(users)s::text[]) AS u(user_id)"
)
# enrol_justified: the link active (newest event `created`, course and segment set, after
# its course's and segment's newest deletion), the user a member since after the segment's.
ENROL_TRUTH_DIFF = """
WITH c AS ({c}), t AS (
  SELECT c.source, c.link_id, c.user_id, l.course_id FROM c
  JOIN enrol_link l ON l.source = c.source AND l.link_id = c.link_id
  JOIN membership m
    ON m.source = l.source AND m.segment_id = l.segment_id AND m.user_id = c.user_id
  LEFT JOIN course_deletion cd ON cd.source = l.source AND cd.course_id = l.course_id
  LEFT JOIN segment_deletion sd ON sd.source = l.source AND sd.segment_id = l.segment_id
  WHERE l.active AND l.course_id <> '' AND l.segment_id <> '' AND m.active
    AND (cd.at IS NULL OR l.ev_time > cd.at)
    AND (sd.at IS NULL OR (l.ev_time > sd.at AND m.ev_time > sd.at))
), x AS (
  SELECT j.source, j.link_id, j.user_id, j.course_id FROM c JOIN enrol_justification j
    ON j.source = c.source AND j.link_id = c.link_id AND j.user_id = c.user_id
)
SELECT true, * FROM (SELECT * FROM t EXCEPT SELECT * FROM x) AS ins
UNION ALL
SELECT false, * FROM (SELECT * FROM x EXCEPT SELECT * FROM t) AS del
"""
_DIFF_PAIRS = ENROL_TRUTH_DIFF.format(c=_PAIRS)
_DIFF_CROSS = ENROL_TRUTH_DIFF.format(c=_CROSS)


def _keys(keys: Iterable[tuple[str, str]]) -> tuple[str, str]:
    ordered = sorted(set(keys))
    return array([k[0] for k in ordered]), array([k[1] for k in ordered])


def links_selected(
    conn: Connection,
    links: Iterable[tuple[str, str]],
    segments: Iterable[tuple[str, str]],
    courses: Iterable[tuple[str, str]],
) -> list[tuple[str, str, str | None, str | None]]:
    params = (*_keys(links), *_keys(segments), *_keys(courses))
    return [(r[0], r[1], r[2], r[3]) for r in rows(conn, LINKS_SELECTED, params)]


def link_states(
    conn: Connection, links: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], EnrolLinkState]:
    out: dict[tuple[str, str], EnrolLinkState] = {}
    for r in rows(conn, LINK_STATES, _keys(links)):
        out[(r[0], r[1])] = EnrolLinkState(
            r[1], r[2], r[3], r[4] or "", r[5] or "unenrol", bool(r[6]), r[7], r[8], r[9]
        )
    return out


Diff = tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]


def truth_diff(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: set[tuple[str, str]],
) -> Diff:
    """Rows to add and drop among the (link, user) candidates, and the links' states."""
    ls, us = sorted(set(link_ids)), sorted(set(users))
    if len(candidates) != len(ls) * len(us):
        return truth_diff_sites(conn, {source: candidates}).get(source, (set(), set(), {}))
    # every link with every user (the bulk form)
    states = link_states(conn, [(source, a) for a in ls])
    params = {"links": array(ls), "users": array(us), "source": source}
    inserts, deletes = _split(rows(conn, _DIFF_CROSS, params)).get(source, (set(), set()))
    return inserts, deletes, {a: st for (_, a), st in states.items()}


def truth_diff_sites(
    conn: Connection, candidates: Mapping[str, set[tuple[str, str]]]
) -> dict[str, Diff]:
    """`truth_diff` of (link, user) candidates per site: two statements for every site."""
    flat = sorted((s, a, u) for s, pairs in candidates.items() for a, u in pairs)
    states = link_states(conn, {(s, a) for s, a, _ in flat})
    params = {k: array([c[n] for c in flat]) for n, k in enumerate(("sources", "links", "users"))}
    diffs = _split(rows(conn, _DIFF_PAIRS, params))
    out: dict[str, Diff] = {s: (set(), set(), {}) for s in candidates}
    for (s, a), st in states.items():
        out[s][2][a] = st
    for s, (inserts, deletes) in diffs.items():
        out[s] = (inserts, deletes, out[s][2])
    return out


def _split(got: Sequence[tuple[Any, ...]]) -> dict[str, tuple[set[ERow], set[ERow]]]:
    out: dict[str, tuple[set[ERow], set[ERow]]] = {}
    for insert, source, link_id, user_id, course_id in got:
        inserts, deletes = out.setdefault(source, (set(), set()))
        (inserts if insert else deletes).add((link_id, user_id, course_id))
    return out


def delete_rows(conn: Connection, deletes: Iterable[tuple[str, str, str]]) -> None:
    """Drop the enrol justification rows of these (source, link_id, user_id)."""
    keys = sorted(set(deletes))
    params = tuple(array([k[n] for k in keys]) for n in range(3))
    conn.exec_driver_sql(DELETE_ROWS, params)


NEXT_USERS = link_kinds_pg.next_users_sql(link_kinds_pg.ENROL)
PAIR_STATES = link_kinds_pg.pair_states_sql(link_kinds_pg.ENROL)


def next_users(
    conn: Connection, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    return link_kinds_pg.next_users(conn, NEXT_USERS, source, link_ids, after, limit)


def pair_states(
    conn: Connection, pairs: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[frozenset[str], int, int | None]]:
    """Per site-keyed pair with links or a history: (links, count, held)."""
    return link_kinds_pg.pair_states(conn, PAIR_STATES, pairs)
