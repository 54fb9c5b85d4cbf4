"""Newest-wins folding on PostgreSQL: a batch's candidate facts (or deletion marks) of one
kind go in as one array per column and come out as verdicts, in one statement per kind.

The rule is `worker.domain.facts.fold` (SqliteStore's path): an update is STALE when the
stored fact or an earlier update of the batch with the same key is newer by (time, id),
SAME when one of them is this very (time, id), else NEWER; the newest update per key is
written only when it is newer than the stored fact. Ids compare byte-wise (`COLLATE "C"`,
Python's order for UTF-8). Only the STALE and SAME updates come back; the rest are NEWER.
A fact's new keys are inserted plainly and its stored ones updated, both from the
statement's own probe (no ON CONFLICT: a site's transactions take turns, ADR 0010, and a key
another transaction inserted anyway is a unique violation, retried as a conflict).
tests/integration/test_fold_sql.py holds the statement equal to the domain rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from itertools import compress

from sqlalchemy.engine import Connection

from worker.domain.facts import Fact, Verdict
from worker.ports import FactKey
from worker.store.facts_repo import ATTR_COLS, FACT_TABLES, MARK_TABLES
from worker.store.keys import chunks
from worker.store.pg import array, col_type, probe, q, rows, seen_flags, write

_C = 'COLLATE "C"'


def _on(a: str, b: str, keys: Sequence[str]) -> str:
    return " AND ".join(f"{a}.{q(k)} = {b}.{q(k)}" for k in keys)


@cache
def fact_sql(kind: str) -> str:
    table, keys = FACT_TABLES[kind]
    name, attrs = table.name, ATTR_COLS.get(kind, ())
    cols = (*keys, "ev_time", "ev_id", "active", *attrs)
    arrays = ", ".join(f"%s::{col_type(name, c)}[]" for c in cols)
    ks = ", ".join(map(q, keys))
    sets = ["ev_time = w.ev_time", "ev_id = w.ev_id", "active = w.active"]
    if attrs:  # a `deleted` event (no attributes) keeps those of the last `created` one
        first = q(attrs[0])
        sets += [
            f"{q(a)} = CASE WHEN w.{first} IS NOT NULL THEN w.{q(a)} ELSE t.{q(a)} END"
            for a in attrs
        ]
    names = ", ".join(map(q, cols))
    stored = " AND ".join(f"s.{q(k)} = w.{q(k)}" for k in keys)
    return f"""
WITH i AS (
  SELECT * FROM unnest({arrays}) WITH ORDINALITY AS i({names}, ord)
), o AS (
  SELECT {", ".join(f"t.{q(k)}" for k in keys)}, t.ev_time, t.ev_id, 0::bigint AS ord
  FROM (SELECT DISTINCT {ks} FROM i) k{probe(name, _on("t", "k", keys))}
  UNION ALL SELECT {ks}, ev_time, ev_id, ord FROM i
), v AS (
  SELECT i.ord,
    bool_or((o.ev_time, o.ev_id {_C}) > (i.ev_time, i.ev_id {_C})) AS stale,
    bool_or(o.ev_time = i.ev_time AND o.ev_id = i.ev_id) AS same
  FROM i JOIN o ON {_on("o", "i", keys)} AND o.ord < i.ord
  GROUP BY i.ord
), w AS (
  SELECT DISTINCT ON ({ks}) {names} FROM i
  ORDER BY {ks}, ev_time DESC, ev_id {_C} DESC, ord  -- a tie: the first one, as the fold
), s AS (  -- the stored rows of the batch's keys (the probe above)
  SELECT * FROM o WHERE ord = 0
), ws AS MATERIALIZED (  -- the newest update of each stored key
  SELECT * FROM w WHERE EXISTS (SELECT FROM s WHERE {stored})
), ins AS (  -- new keys: a plain insert (no other transaction of the site writes them)
  INSERT INTO {q(name)} ({names}) SELECT {names} FROM w
  WHERE NOT EXISTS (SELECT FROM s WHERE {stored})
), upd AS (  -- stored keys: updated when the newest update is newer
  UPDATE {q(name)} t SET {", ".join(sets)} FROM ws w
  WHERE {_on("t", "w", keys)} AND (w.ev_time, w.ev_id {_C}) > (t.ev_time, t.ev_id {_C})
)
SELECT ord, stale FROM v WHERE stale OR same
"""


@cache
def mark_sql(kind: str) -> str:
    table, keys = MARK_TABLES[kind]
    name = table.name
    arrays = ", ".join(f"%s::{col_type(name, c)}[]" for c in (*keys, "at"))
    ks = ", ".join(map(q, keys))
    return f"""
WITH i AS (
  SELECT * FROM unnest({arrays}) WITH ORDINALITY AS i({ks}, at, ord)
), o AS (
  SELECT {", ".join(f"t.{q(k)}" for k in keys)}, t.at, 0::bigint AS ord
  FROM (SELECT DISTINCT {ks} FROM i) k{probe(name, _on("t", "k", keys))}
  UNION ALL SELECT {ks}, at, ord FROM i
), v AS (
  SELECT i.ord, bool_or(o.at > i.at) AS stale, bool_or(o.at = i.at) AS same
  FROM i JOIN o ON {_on("o", "i", keys)} AND o.ord < i.ord
  GROUP BY i.ord
), up AS (
  INSERT INTO {q(name)} ({ks}, at) SELECT {ks}, max(at) FROM i GROUP BY {ks}
  ON CONFLICT ({ks}) DO UPDATE SET at = EXCLUDED.at WHERE EXCLUDED.at > {q(name)}.at
)
SELECT ord, stale FROM v WHERE stale OR same
"""


def _verdicts(n: int, got: list[tuple[int, bool]]) -> list[Verdict]:
    out = [Verdict.NEWER] * n
    for ord_, stale in got:
        out[ord_ - 1] = Verdict.STALE if stale else Verdict.SAME
    return out


def fold_facts(
    conn: Connection, kind: str, updates: Sequence[tuple[FactKey, Fact]]
) -> list[Verdict]:
    if not updates:
        return []
    keys = FACT_TABLES[kind][1]
    attrs = ATTR_COLS.get(kind, ())
    params = [array([k[n] for k, _ in updates]) for n in range(len(keys))]
    params.append(array([f.time_us for _, f in updates], "bigint"))
    params.append(array([f.event_id for _, f in updates]))
    params.append(array([f.active for _, f in updates], "boolean"))
    for n in range(len(attrs)):
        params.append(array([None if f.attrs is None else f.attrs[n] for _, f in updates]))
    got = rows(conn, fact_sql(kind), tuple(params))
    return _verdicts(len(updates), [(r[0], r[1]) for r in got])


def fold_marks(
    conn: Connection, kind: str, updates: Sequence[tuple[FactKey, int]]
) -> list[Verdict]:
    if not updates:
        return []
    _, keys = MARK_TABLES[kind]
    params = [array([k[n] for k, _ in updates]) for n in range(len(keys))]
    params.append(array([at for _, at in updates], "bigint"))
    got = rows(conn, mark_sql(kind), tuple(params))
    return _verdicts(len(updates), [(r[0], r[1]) for r in got])


# No ON CONFLICT: the keys are those the batch's own lookup did not find (apply_batch), in
# the same transaction, each once; another transaction of the site cannot write them
# meanwhile (site turns, ADR 0010). A key one wrote anyway (two workers applying the same
# events across a chunk commit) is a unique violation, retried as a conflict
# (`db.is_serialization_failure`) where ON CONFLICT DO NOTHING skipped it; the retry finds
# it applied. The speculative insert and its confirmation cost ~3 µs of PostgreSQL a key.
MARK_PROCESSED = (
    "INSERT INTO processed_event (source, event_id) SELECT * FROM unnest(%s::text[], %s::text[])"
)


def mark_processed(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    """The processed-event log: two arrays, no row objects (in key order, as every writer)."""
    if keys:
        ordered = sorted(set(keys))
        keys_of = (array([s for s, _ in ordered]), array([i for _, i in ordered]))
        write(conn, MARK_PROCESSED, keys_of)


SEEN_CHUNK = 20_000


def seen_events(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The keys of `keys` the processed-event log holds: one row back per chunk, a flag per
    key (`pg.seen_flags`), not a row per key seen (a replayed batch is all seen)."""
    out: set[tuple[str, str]] = set()
    for part in chunks(list(set(keys)), SEEN_CHUNK):
        out.update(compress(part, seen_flags(conn, part)))
    return out
