"""PostgreSQL statements of `justify_repo` and the engine over arrays (see `pg`): the links of
changed courses and segments, many row deletions, and the truth-and-diff of candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from worker.domain.justify import Row
from worker.store import link_kinds_pg
from worker.store.pg import array, custom_planned, rows

# (site, course) and (site, segment) keys of a batch, every site at once: index probes.
LINKS_TOUCHING = link_kinds_pg.links_by_keys_sql("link", ("course_id", "segment_id"))
DELETE_ROWS = (
    "DELETE FROM justification j USING unnest(%s::text[], %s::text[]) AS d(link_id, user_id)"
    " WHERE j.source = %s AND j.link_id = d.link_id AND j.user_id = d.user_id"
)


def links_touching(
    conn: Connection, courses: Sequence[tuple[str, str]], segments: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str | None, str | None]]:
    """(source, link_id, course_id, segment_id) of the links on these (source, course) or
    (source, segment) keys."""
    params = (
        array([s for s, _ in courses]),
        array([c for _, c in courses]),
        array([s for s, _ in segments]),
        array([g for _, g in segments]),
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows(conn, LINKS_TOUCHING, params)]


def delete_rows(conn: Connection, source: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Drop the justification rows of these (link_id, user_id)."""
    conn.exec_driver_sql(
        DELETE_ROWS, (array([a for a, _ in pairs]), array([u for _, u in pairs]), source)
    )


def deletion_joins(site: str, link: str) -> str:
    """The deletion marks that can end a (link, user) candidate, each joined once: its
    link's course (`cd`), segment (`sd`) and group (`gd`); `link` the alias holding
    course_id, segment_id and group_id, `site` the expression of its source."""
    return f"""
  LEFT JOIN course_deletion cd ON cd.source = {site} AND cd.course_id = {link}.course_id
  LEFT JOIN segment_deletion sd ON sd.source = {site} AND sd.segment_id = {link}.segment_id
  LEFT JOIN group_deletion gd
    ON gd.source = {site} AND gd.course_id = {link}.course_id AND gd.group_id = {link}.group_id
"""


def after_deletions(link_time: str, e_time: str, m_time: str) -> str:
    """The deletion part of `worker.domain.justify.justified` over `deletion_joins`, written
    once for the three statements that apply the rule: a course's deletion ends the link and
    the enrolments from before it, a segment's the link and the memberships, a group's the
    link."""
    return f"""(cd.at IS NULL OR ({link_time} > cd.at AND {e_time} > cd.at))
    AND (sd.at IS NULL OR ({link_time} > sd.at AND {m_time} > sd.at))
    AND (gd.at IS NULL OR {link_time} > gd.at)"""


# The justification rule of `worker.domain.justify.justified`, over many (link, user)
# candidates at once, and the difference with the stored rows: only the rows that change
# come back to Python. The rule stays written once in the domain for SQLite; both paths run
# the same reference tests, and tests/integration/test_truth_sql.py compares them directly.
# "Every link with every user" looks up each user's own rows by key, user by user (LATERAL,
# fenced with OFFSET 0 so the planner cannot reorder it): its cost follows the users and the
# links, never the planner's row estimates. (Joined freely, a link's course that gained
# 100,000 enrolments since the last ANALYZE looked like one row, and the plan compared every
# user of a chunk with every enrolment: 58 s per chunk of 5,000 users;
# tests/integration/test_truth_sql_plans.py.) A user's enrolments in the links' courses are
# read once, by primary key, then joined to the links: read per link instead (the planner's
# choice when the links look like one row) they were read again for every link, and on a
# fresh store by an index range over the whole site. They are materialized (`e`) before the
# memberships are probed: with both lookups lateral, the planner was free to probe a
# membership for every link with every user first (27 x 3,539 probes, 200 ms a statement in
# the benchmark; test_truth_sql_plans), and only then the enrolments.
_CROSS_HEAD = (
    """
WITH c AS MATERIALIZED (
  SELECT DISTINCT user_id FROM unnest(%(users)s::text[]) AS c(user_id)
), l AS MATERIALIZED (
  SELECT source, link_id, course_id, segment_id, group_id, ev_time FROM link
  WHERE source = %(source)s AND link_id = ANY(%(links)s::text[])
    AND active AND group_id IS NOT NULL
), e AS MATERIALIZED (
  SELECT c.user_id, e.course_id, e.ev_time FROM c CROSS JOIN LATERAL (
    SELECT e.course_id, max(e.ev_time) AS ev_time FROM enrollment_method e
    WHERE e.source = %(source)s AND e.course_id = ANY(ARRAY(SELECT course_id FROM l))
      AND e.user_id = c.user_id AND e.active
    GROUP BY e.course_id OFFSET 0
  ) e
), t AS (
  SELECT l.source, l.link_id, e.user_id, l.course_id, l.group_id FROM e
  JOIN l ON l.course_id = e.course_id
  CROSS JOIN LATERAL (
    SELECT m.ev_time FROM membership m
    WHERE m.source = %(source)s AND m.segment_id = l.segment_id AND m.user_id = e.user_id
      AND m.active
    OFFSET 0
  ) m"""
    + deletion_joins("%(source)s", "l")
    + f"""  WHERE {after_deletions("l.ev_time", "e.ev_time", "m.ev_time")}
), x AS (
  SELECT j.source, j.link_id, j.user_id, j.course_id, j.group_id FROM c CROSS JOIN LATERAL (
    SELECT j.source, j.link_id, j.user_id, j.course_id, j.group_id FROM justification j
    WHERE j.source = %(source)s AND j.user_id = c.user_id
      AND j.link_id = ANY(%(links)s::text[])
    OFFSET 0
  ) j
)
"""
)


def truth_diff(
    conn: Connection,
    source: str,
    pairs: Sequence[tuple[str, str]] | None = None,
    links: Sequence[str] = (),
    users: Sequence[str] = (),
    apply: bool = False,
) -> tuple[set[Row], set[Row]]:
    """(rows to insert, rows to delete) of justification for these (link_id, user_id) `pairs`,
    or when `pairs` is None for every link of `links` with every user of `users`; `apply`:
    and make the stored rows so, in the same statement."""
    if pairs is not None:
        return pairs_diff(conn, {source: pairs}, apply).get(source, (set(), set()))
    sql = _APPLY_CROSS if apply else _TRUTH_CROSS
    params = {"links": array(links), "users": array(users), "source": source}
    return split(rows(conn, sql, params)).get(source, (set(), set()))


def pairs_diff(
    conn: Connection, candidates: Mapping[str, Sequence[tuple[str, str]]], apply: bool = False
) -> dict[str, tuple[set[Row], set[Row]]]:
    """`truth_diff` of (link_id, user_id) candidates per site (`_PAIRS_HEAD`): sites with
    few candidates together, up to FEW_PAIRS a statement, under the every-site text's
    generic plan; a site with more on its own, planned for its values."""
    out: dict[str, tuple[set[Row], set[Row]]] = {}
    pack: list[tuple[str, str, str]] = []
    for source, pairs in sorted(candidates.items()):
        if len(pairs) > FEW_PAIRS:
            params = {"source": source, "links": array([a for a, _ in pairs])}
            params["users"] = array([u for _, u in pairs])
            out.update(split(rows(conn, _APPLY_PAIRS if apply else _TRUTH_PAIRS, params)))
            continue
        if len(pack) + len(pairs) > FEW_PAIRS:
            out.update(_every_site(conn, pack, apply))
            pack = []
        pack += [(source, a, u) for a, u in pairs]
    if pack:
        out.update(_every_site(conn, pack, apply))
    return out


def _every_site(
    conn: Connection, flat: Sequence[tuple[str, str, str]], apply: bool
) -> dict[str, tuple[set[Row], set[Row]]]:
    names = ("sources", "links", "users")
    params = {k: array([c[n] for c in flat]) for n, k in enumerate(names)}
    return split(rows(conn, _APPLY_FEW if apply else _TRUTH_FEW, params))


def split(got: Sequence[tuple[Any, ...]]) -> dict[str, tuple[set[Row], set[Row]]]:
    out: dict[str, tuple[set[Row], set[Row]]] = {}
    for insert, source, *row in got:
        inserts, deletes = out.setdefault(source, (set(), set()))
        (inserts if insert else deletes).add((row[0], row[1], row[2], row[3]))
    return out


# The pairs form with each user's enrolments and memberships read once (by the user
# indexes) and joined by hash, instead of one index probe per candidate: 4x faster on the
# benchmark's batches (5,000 candidates of 1,300 users), a fifth of the planning. Two
# shapes of one text: candidates of every site (the site a column), for a thin batch's few
# candidates under one generic plan; and one site's (the site a parameter), planned for its
# values: joined on a site column, the planner takes the site for one of 200 values, sees
# 17 enrolments where there are 5,000 and nests loops over them (28 s for 50,000
# candidates of four sites against 0.2 s site by site).
_PAIRS_HEAD = (
    """
WITH c AS MATERIALIZED (
  SELECT DISTINCT {c_site}link_id, user_id
  FROM unnest({arrays}) AS c({c_site}link_id, user_id)
), e AS MATERIALIZED (
  SELECT {u_site}e.course_id, e.user_id, max(e.ev_time) AS ev_time
  FROM (SELECT DISTINCT {c_site}user_id FROM c) u
  JOIN enrollment_method e ON e.source = {site_u} AND e.user_id = u.user_id WHERE e.active
  GROUP BY {u_site}e.course_id, e.user_id
), m AS MATERIALIZED (
  SELECT {u_site}m.segment_id, m.user_id, m.ev_time FROM (SELECT DISTINCT {c_site}user_id FROM c) u
  JOIN membership m ON m.source = {site_u} AND m.user_id = u.user_id WHERE m.active
), t AS (
  SELECT l.source, c.link_id, c.user_id, l.course_id, l.group_id FROM c
  JOIN link l ON l.source = {site_c} AND l.link_id = c.link_id
  JOIN e ON {e_site}e.course_id = l.course_id AND e.user_id = c.user_id
  JOIN m ON {m_site}m.segment_id = l.segment_id AND m.user_id = c.user_id"""
    + deletion_joins("l.source", "l")
    + "  WHERE l.active AND l.group_id IS NOT NULL\n    AND "
    + after_deletions("l.ev_time", "e.ev_time", "m.ev_time")
    + """
), x AS (
  SELECT j.source, j.link_id, j.user_id, j.course_id, j.group_id FROM c JOIN justification j
    ON j.source = {site_c} AND j.link_id = c.link_id AND j.user_id = c.user_id
)
"""
)
_ONE_SITE = _PAIRS_HEAD.format(
    c_site="",
    arrays="%(links)s::text[], %(users)s::text[]",
    u_site="",
    site_u="%(source)s",
    site_c="%(source)s",
    e_site="",
    m_site="",
)
_EVERY_SITE = _PAIRS_HEAD.format(
    c_site="source, ",
    arrays="%(sources)s::text[], %(links)s::text[], %(users)s::text[]",
    u_site="u.source, ",
    site_u="u.source",
    site_c="c.source",
    e_site="e.source = c.source AND ",
    m_site="m.source = c.source AND ",
)
# The diff only (rows that change come back) ...
_DIFF = """SELECT true, * FROM (SELECT * FROM t EXCEPT SELECT * FROM x) AS ins
UNION ALL
SELECT false, * FROM (SELECT * FROM x EXCEPT SELECT * FROM t) AS del
"""
# ... or the diff applied in the same statement and returned: a row whose key stays but whose
# (course, group) changes (a moved link) is updated in place, the others inserted or deleted.
APPLY_TAIL = """, ins AS (
  SELECT * FROM t EXCEPT SELECT * FROM x
), del AS (
  SELECT * FROM x EXCEPT SELECT * FROM t
), w_ins AS (
  INSERT INTO justification (source, link_id, user_id, course_id, group_id)
  SELECT source, link_id, user_id, course_id, group_id FROM ins
  ON CONFLICT (source, link_id, user_id)
  DO UPDATE SET course_id = EXCLUDED.course_id, group_id = EXCLUDED.group_id
), gone AS (  -- keys to delete: not rewritten by `ins` (a set difference, never quadratic)
  SELECT source, link_id, user_id FROM del EXCEPT SELECT source, link_id, user_id FROM ins
), w_del AS (
  DELETE FROM justification j USING gone
  WHERE j.source = gone.source AND j.link_id = gone.link_id AND j.user_id = gone.user_id
)
SELECT true, * FROM ins UNION ALL SELECT false, * FROM del
"""
_TRUTH_CROSS = _CROSS_HEAD + _DIFF
_APPLY_CROSS = _CROSS_HEAD + APPLY_TAIL
# The pairs form's hash joins need the planner to see how many candidates come in: with one
# generic plan, 4,800 candidates took 920 ms instead of 19. A thin stream's few candidates
# (a batch of 60 events: about 60) run a generic plan, prepared once (2 ms instead of 7,
# most of it planning); above FEW_PAIRS the statement is planned for its values each time.
FEW_PAIRS = 256
_TRUTH_PAIRS = custom_planned(_ONE_SITE + _DIFF)
_APPLY_PAIRS = custom_planned(_ONE_SITE + APPLY_TAIL)
_TRUTH_FEW = _EVERY_SITE + _DIFF
_APPLY_FEW = _EVERY_SITE + APPLY_TAIL


NEXT_USERS = link_kinds_pg.next_users_sql(link_kinds_pg.GROUP)
PAIR_STATES = link_kinds_pg.pair_states_sql(link_kinds_pg.GROUP)


def next_users(
    conn: Connection, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    return link_kinds_pg.next_users(conn, NEXT_USERS, source, link_ids, after, limit)


def pair_states(
    conn: Connection, pairs: Sequence[tuple[str, str, str, str]]
) -> dict[tuple[str, str, str, str], tuple[frozenset[str], int, int | None]]:
    """Per site-keyed pair with links or a history: (links, count, held)."""
    return link_kinds_pg.pair_states(conn, PAIR_STATES, pairs)
