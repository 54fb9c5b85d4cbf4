"""PostgreSQL statements of the enrolment pass over arrays (see `pg`): the enrol links of
segments, links and courses, their states, row deletions, and the enrolment rule with its
diff as one statement (`ENROL_TRUTH_DIFF`), so only the rows that change come back.

The rule is `worker.domain.enrol.enrol_justified` (SqliteStore's path, `enrol_truth`);
tests/integration/test_truth_sql.py holds the two equal on random stores."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from worker.domain.enrol import EnrolLinkState
from worker.ports import ELinkRow, ERow
from worker.store.pg import array, custom_planned, rows

LINKS_SELECTED = (
    "SELECT link_id, course_id, segment_id FROM enrol_link WHERE source = %s"
    " AND (link_id = ANY(%s::text[]) OR segment_id = ANY(%s::text[])"
    " OR course_id = ANY(%s::text[])) ORDER BY link_id"
)
LINK_STATES = (
    "SELECT l.link_id, l.course_id, l.segment_id, l.role, l.on_leave, l.active, l.ev_time,"
    " cd.at, sd.at FROM enrol_link l"
    " LEFT JOIN course_deletion cd ON cd.source = l.source AND cd.course_id = l.course_id"
    " LEFT JOIN segment_deletion sd ON sd.source = l.source AND sd.segment_id = l.segment_id"
    " WHERE l.source = %s AND l.link_id = ANY(%s::text[])"
)
DELETE_ROWS = (
    "DELETE FROM enrol_justification j"
    " USING unnest(%s::text[], %s::text[]) AS d(link_id, user_id)"
    " WHERE j.source = %s AND j.link_id = d.link_id AND j.user_id = d.user_id"
)
_PAIRS = (
    "SELECT DISTINCT link_id, user_id"
    " FROM unnest(%(links)s::text[], %(users)s::text[]) AS c(link_id, user_id)"
)
# No DISTINCT (the diff's EXCEPT removes duplicates): over a function's output PostgreSQL
# estimates 200 distinct rows whatever the arrays hold, and planned for that.
_CROSS = (
    "SELECT a.link_id, u.user_id FROM unnest(%(links)s::text[]) AS a(link_id)"
    " CROSS JOIN unnest(%(users)s::text[]) AS u(user_id)"
)
# enrol_justified: the link active (newest event `created`, course and segment set, after
# its course's and segment's newest deletion), the user a member since after the segment's.
ENROL_TRUTH_DIFF = """
WITH c AS ({c}), t AS (
  SELECT c.link_id, c.user_id, l.course_id FROM c
  JOIN enrol_link l ON l.source = %(source)s AND l.link_id = c.link_id
  JOIN membership m
    ON m.source = l.source AND m.segment_id = l.segment_id AND m.user_id = c.user_id
  LEFT JOIN course_deletion cd ON cd.source = l.source AND cd.course_id = l.course_id
  LEFT JOIN segment_deletion sd ON sd.source = l.source AND sd.segment_id = l.segment_id
  WHERE l.active AND l.course_id <> '' AND l.segment_id <> '' AND m.active
    AND (cd.at IS NULL OR l.ev_time > cd.at)
    AND (sd.at IS NULL OR (l.ev_time > sd.at AND m.ev_time > sd.at))
), x AS (
  SELECT j.link_id, j.user_id, j.course_id FROM c JOIN enrol_justification j
    ON j.source = %(source)s AND j.link_id = c.link_id AND j.user_id = c.user_id
)
SELECT true, * FROM (SELECT * FROM t EXCEPT SELECT * FROM x) AS ins
UNION ALL
SELECT false, * FROM (SELECT * FROM x EXCEPT SELECT * FROM t) AS del
"""
_DIFF_PAIRS = ENROL_TRUTH_DIFF.format(c=_PAIRS)
_DIFF_CROSS = ENROL_TRUTH_DIFF.format(c=_CROSS)


def links_selected(
    conn: Connection,
    source: str,
    links: Sequence[str],
    segments: Sequence[str],
    courses: Sequence[str],
) -> list[ELinkRow]:
    got = rows(conn, LINKS_SELECTED, (source, array(links), array(segments), array(courses)))
    return [(r[0], r[1], r[2]) for r in got]


def link_states(
    conn: Connection, source: str, link_ids: Sequence[str]
) -> dict[str, EnrolLinkState]:
    out: dict[str, EnrolLinkState] = {}
    for r in rows(conn, LINK_STATES, (source, array(sorted(set(link_ids))))):
        out[r[0]] = EnrolLinkState(
            r[0], r[1], r[2], r[3] or "", r[4] or "unenrol", bool(r[5]), r[6], r[7], r[8]
        )
    return out


def truth_diff(
    conn: Connection,
    source: str,
    link_ids: Sequence[str],
    users: Sequence[str],
    candidates: set[tuple[str, str]],
) -> tuple[set[ERow], set[ERow], dict[str, EnrolLinkState]]:
    """Rows to add and drop among the (link, user) candidates, and the links' states."""
    states = link_states(conn, source, link_ids)
    ls, us = sorted(set(link_ids)), sorted(set(users))
    if len(candidates) == len(ls) * len(us):  # every link with every user (the bulk form)
        sql, params = _DIFF_CROSS, {"links": array(ls), "users": array(us)}
    else:
        pairs = sorted(candidates)
        sql = _DIFF_PAIRS
        params = {"links": array([a for a, _ in pairs]), "users": array([u for _, u in pairs])}
    inserts: set[ERow] = set()
    deletes: set[ERow] = set()
    for r in rows(conn, sql, {**params, "source": source}):
        (inserts if r[0] else deletes).add((r[1], r[2], r[3]))
    return inserts, deletes, states


def delete_rows(conn: Connection, source: str, deletes: set[ERow]) -> None:
    pairs = sorted((a, u) for a, u, _ in deletes)
    conn.exec_driver_sql(
        DELETE_ROWS, (array([a for a, _ in pairs]), array([u for _, u in pairs]), source)
    )


# `enrol_repo.next_users` as one fixed statement.
NEXT_USERS = custom_planned("""
SELECT user_id FROM (
  (SELECT DISTINCT j.user_id FROM enrol_justification j
   WHERE j.source = %(source)s AND j.link_id = ANY(%(links)s::text[])
     AND (%(after)s::text IS NULL OR j.user_id > %(after)s::text)
   ORDER BY j.user_id LIMIT %(limit)s)
  UNION
  (SELECT DISTINCT m.user_id FROM membership m
   WHERE m.source = %(source)s AND m.segment_id IN (
       SELECT l.segment_id FROM enrol_link l
       WHERE l.source = %(source)s AND l.link_id = ANY(%(links)s::text[]))
     AND (%(after)s::text IS NULL OR m.user_id > %(after)s::text)
   ORDER BY m.user_id LIMIT %(limit)s)
) u ORDER BY user_id LIMIT %(limit)s
""")


def next_users(
    conn: Connection, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    params = {"source": source, "links": array(link_ids), "after": after, "limit": limit}
    return [r[0] for r in rows(conn, NEXT_USERS, params)]


PAIR_STATES = """
SELECT k.course_id, k.user_id, p.transitions, p.held_batch,
  ARRAY(SELECT j.link_id FROM enrol_justification j WHERE j.source = %(source)s
        AND j.course_id = k.course_id AND j.user_id = k.user_id)
FROM (SELECT DISTINCT * FROM unnest(%(c)s::text[], %(u)s::text[]) AS k(course_id, user_id)) k
LEFT JOIN enrol_pair p ON p.source = %(source)s
  AND p.course_id = k.course_id AND p.user_id = k.user_id
"""


def pair_states(
    conn: Connection, source: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[frozenset[str], int, int | None]]:
    params = {
        "source": source,
        "c": array([p[0] for p in pairs]),
        "u": array([p[1] for p in pairs]),
    }
    out: dict[tuple[str, str], tuple[frozenset[str], int, int | None]] = {}
    for c, u, count, held, links in rows(conn, PAIR_STATES, params):
        if count is not None or links:
            out[(c, u)] = (frozenset(links), count or 0, held)
    return out
