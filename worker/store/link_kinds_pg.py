"""The statements both link kinds run alike on PostgreSQL, written once: a group link (a
segment's members enrolled in a course, into a group) and an enrol link (a segment's
members, into a course) differ only in their tables and in which fact names the users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy.engine import Connection

from worker.ports import PairState
from worker.store.pg import array, custom_planned, rows

K = TypeVar("K", bound=tuple[str, ...])


@dataclass(frozen=True)
class LinkKind:
    justified: str  # the justification table
    pair: str  # the pair history table
    pair_key: tuple[str, ...]  # a pair's columns after its source
    facts: str  # the facts whose users a link reaches (alias: f)
    fact_key: str  # their column the link names
    link: str  # the link table
    # Of the users the facts name, those a link could justify (`f` a fact, `l` its link);
    # None: all of them.
    could: str | None = None


# A group link can justify only a user active in its course and in its segment: the other
# enrollees of the course (seven in eight in the benchmark's history) are not recomputed.
GROUP = LinkKind(
    "justification",
    "pair",
    ("course_id", "group_id", "user_id"),
    "enrollment_method",  # a user with an active method is in the course
    "course_id",
    "link",
    could="f.active AND EXISTS (SELECT FROM membership o WHERE o.source = f.source"
    " AND o.segment_id = l.segment_id AND o.user_id = f.user_id AND o.active)",
)
ENROL = LinkKind(
    "enrol_justification",
    "enrol_pair",
    ("course_id", "user_id"),
    "membership",
    "segment_id",
    "enrol_link",
)


def links_by_keys_sql(table: str, columns: Sequence[str], order: bool = False) -> str:
    """(source, link_id, course_id, segment_id) of the links whose `column` is one of the
    (source, value) keys given for it, two arrays per column, every site at once: one index
    probe per key."""
    parts = [
        "SELECT l.source, l.link_id, l.course_id, l.segment_id\n"
        "FROM unnest(%s::text[], %s::text[]) AS k(source, v)\n"
        f"JOIN {table} l ON l.source = k.source AND l.{column} = k.v\n"
        for column in columns
    ]
    return "UNION\n".join(parts) + ("ORDER BY 1, 2\n" if order else "")


def next_users_sql(k: LinkKind) -> str:
    """The next users of some links after a cursor, justified now or reached through the
    link's facts (those it `could` justify): ordered index range scans that stop at the
    limit (per link for the second side), one fixed statement."""
    after = "(%(after)s::text IS NULL OR {}.user_id > %(after)s::text)"
    if k.could is None:
        reached = f"""SELECT DISTINCT f.user_id FROM {k.facts} f
   WHERE f.source = %(source)s AND f.{k.fact_key} IN (
       SELECT l.{k.fact_key} FROM {k.link} l
       WHERE l.source = %(source)s AND l.link_id = ANY(%(links)s::text[]))
     AND {after.format("f")}
   ORDER BY f.user_id LIMIT %(limit)s"""
    else:  # per link: its fact rows in user order (the primary key), filtered as they come;
        # each user once (enrolments have a row per method), or a page would come up short
        reached = f"""SELECT DISTINCT f.user_id FROM {k.link} l CROSS JOIN LATERAL (
     SELECT DISTINCT f.user_id FROM {k.facts} f
     WHERE f.source = l.source AND f.{k.fact_key} = l.{k.fact_key} AND {k.could}
       AND {after.format("f")}
     ORDER BY f.user_id LIMIT %(limit)s) f
   WHERE l.source = %(source)s AND l.link_id = ANY(%(links)s::text[])
   ORDER BY f.user_id LIMIT %(limit)s"""
    return custom_planned(f"""
SELECT user_id FROM (
  (SELECT DISTINCT j.user_id FROM {k.justified} j
   WHERE j.source = %(source)s AND j.link_id = ANY(%(links)s::text[])
     AND {after.format("j")}
   ORDER BY j.user_id LIMIT %(limit)s)
  UNION
  ({reached})
) u ORDER BY user_id LIMIT %(limit)s
""")


def next_users(
    conn: Connection, sql: str, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    params = {"source": source, "links": array(link_ids), "after": after, "limit": limit}
    return [r[0] for r in rows(conn, sql, params)]


def pair_states_sql(k: LinkKind) -> str:
    """`pair_links` and `pair_transitions` in one statement: per pair, its history and
    the links justifying it now."""
    cols = ("source", *k.pair_key)
    keys = ", ".join(f"%(k{n})s::text[]" for n in range(len(cols)))
    same = " AND ".join(f"{{t}}.{c} = k.{c}" for c in cols)
    return f"""
SELECT {", ".join(f"k.{c}" for c in cols)}, p.transitions, p.held_batch,
  ARRAY(SELECT j.link_id FROM {k.justified} j WHERE {same.format(t="j")})
FROM (SELECT DISTINCT * FROM unnest({keys}) AS k({", ".join(cols)})) k
LEFT JOIN {k.pair} p ON {same.format(t="p")}
"""


def pair_states(conn: Connection, sql: str, pairs: Sequence[K]) -> dict[K, PairState]:
    """Per site-keyed pair with links or a history: (links, count, held)."""
    if not pairs:
        return {}
    width = len(pairs[0])
    params = {f"k{n}": array([p[n] for p in pairs]) for n in range(width)}
    out: dict[K, PairState] = {}
    for r in rows(conn, sql, params):  # the key's columns, then count, held, links
        count, links = r[width], r[width + 2]
        if count is not None or links:
            out[cast(K, r[:width])] = (frozenset(links), count or 0, r[width + 1])
    return out
