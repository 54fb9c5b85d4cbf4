"""A batch's user work on PostgreSQL in one statement: which (link, user) pairs the changed
enrolments and memberships can move, the rule over them, and its diff applied.

The narrowing is `worker.domain.candidates` (SqliteStore's path: the user's holdings read
back into Python, `TouchingLinks.candidates`, then the rule over the candidates): a pair can
change only if the link is on a changed course with the user in that course and in the
link's segment now (or on a changed segment, symmetrically), or if the user has a stored
row through the link (its row's course changed, or the link's course or segment did). Here
each user's enrolments, memberships and stored rows are read once by the user indexes and
joined by hash, and nothing comes back to Python but the rows that change: the holdings
(5 rows a user) never leave the server. tests/integration/test_user_truth_sql.py holds it
equal to the Python path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from worker.domain.justify import Diff
from worker.ports import SiteKey
from worker.store.justify_pg import APPLY_TAIL, after_deletions, deletion_joins, split
from worker.store.pg import array, custom_planned, probes_by_index, rows

_USER_TRUTH = (
    """
WITH ch AS MATERIALIZED (  -- one row per changed (user, course) or (user, segment)
  SELECT * FROM unnest(%(sources)s::text[], %(users)s::text[], %(courses)s::text[],
    %(segments)s::text[]) AS ch(source, user_id, course_id, segment_id)
), u AS MATERIALIZED (  -- the users, each once (distinct in Python: the planner sees how many)
  SELECT * FROM unnest(%(u_sources)s::text[], %(u_users)s::text[]) AS u(source, user_id)
), e AS MATERIALIZED (
  SELECT u.source, u.user_id, x.course_id, x.ev_time FROM u CROSS JOIN LATERAL (
    SELECT e.course_id, max(e.ev_time) AS ev_time FROM enrollment_method e
    WHERE e.source = u.source AND e.user_id = u.user_id AND e.active
    GROUP BY e.course_id OFFSET 0
  ) x
), m AS MATERIALIZED (
  SELECT u.source, u.user_id, x.segment_id, x.ev_time FROM u CROSS JOIN LATERAL (
    SELECT m.segment_id, m.ev_time FROM membership m
    WHERE m.source = u.source AND m.user_id = u.user_id AND m.active OFFSET 0
  ) x
), x AS MATERIALIZED (  -- stored rows that can change: in a changed course, or through a
  -- link on a changed course or segment (every stored row of a candidate is one of these)
  SELECT j.source, j.link_id, j.user_id, j.course_id, j.group_id FROM u CROSS JOIN LATERAL (
    SELECT j.source, j.link_id, j.user_id, j.course_id, j.group_id FROM justification j
    WHERE j.source = u.source AND j.user_id = u.user_id OFFSET 0
  ) j
  LEFT JOIN link l ON l.source = j.source AND l.link_id = j.link_id
  WHERE EXISTS (
    SELECT FROM ch WHERE ch.source = j.source AND ch.user_id = j.user_id
      AND (ch.course_id = j.course_id OR ch.course_id = l.course_id
           OR ch.segment_id = l.segment_id)
  )
), em AS MATERIALIZED (  -- every link the user's enrolments and memberships reach now
  -- (in a course the user is in, on a segment the user is in), with the user's fact times:
  -- computed once; the candidates below are its rows that a change or a stored row names
  SELECT l.source, l.link_id, e.user_id, l.course_id, l.segment_id, l.group_id, l.active,
    l.ev_time, e.ev_time AS e_time, m.ev_time AS m_time FROM e
  JOIN link l ON l.source = e.source AND l.course_id = e.course_id
  JOIN m ON m.source = e.source AND m.user_id = e.user_id AND m.segment_id = l.segment_id
), c AS (  -- the candidates the user can be justified by now: links on a changed course or
  -- segment, and the links of stored rows
  SELECT em.* FROM ch JOIN em ON em.source = ch.source AND em.user_id = ch.user_id
    AND em.course_id = ch.course_id
  UNION ALL
  SELECT em.* FROM ch JOIN em ON em.source = ch.source AND em.user_id = ch.user_id
    AND em.segment_id = ch.segment_id
  UNION ALL
  SELECT em.* FROM x JOIN em ON em.source = x.source AND em.user_id = x.user_id
    AND em.link_id = x.link_id
), t AS (  -- the rule over them: an active link with a group, no deletion after them
  SELECT DISTINCT c.source, c.link_id, c.user_id, c.course_id, c.group_id FROM c"""
    + deletion_joins("c.source", "c")
    + f"""  WHERE c.active AND c.group_id IS NOT NULL
    AND {after_deletions("c.ev_time", "c.e_time", "c.m_time")}
)
"""
)
# A thin batch's few changes run one generic plan, prepared once; more are planned for
# their values each time (the hash joins need the planner to see how many rows come in,
# as for `justify_pg`'s pairs form).
FEW_CHANGES = 256
_FEW = _USER_TRUTH + APPLY_TAIL
_MANY = custom_planned(_USER_TRUTH + " " + APPLY_TAIL)


def apply_user_truth(
    conn: Connection, changed: Mapping[SiteKey, tuple[Any, Any]]
) -> dict[str, Diff]:
    """`changed`: per (source, user_id), (courses, segments) whose facts changed for the
    user. Applies the rule to the pairs they can move; returns what changed, per site."""
    sources: list[str] = []
    users: list[str] = []
    courses: list[str | None] = []
    segments: list[str | None] = []
    for (source, user), (cs, gs) in sorted(changed.items()):
        for course in sorted(cs):
            sources.append(source)
            users.append(user)
            courses.append(course)
            segments.append(None)
        for segment in sorted(gs):
            sources.append(source)
            users.append(user)
            courses.append(None)
            segments.append(segment)
    if not sources:
        return {}
    each = sorted(changed)
    params = {
        "u_sources": array([s for s, _ in each]),
        "u_users": array([u for _, u in each]),
        "sources": array(sources),
        "users": array(users),
        "courses": array(courses),
        "segments": array(segments),
    }
    sql = _FEW if len(sources) <= FEW_CHANGES else _MANY
    with probes_by_index(conn):  # every user's facts and rows are a few index entries
        got = rows(conn, sql, params)
    return {s: Diff(*d) for s, d in split(got).items()}
