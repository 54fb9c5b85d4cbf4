"""Reading and writing facts, deletion marks and the processed-event log, many keys at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from worker.domain.facts import Fact
from worker.store.db import upsert
from worker.store.keys import by_keys
from worker.store.tables import (
    course_deletion,
    enrol_link,
    enrollment_method,
    group_deletion,
    link,
    membership,
    processed_event,
    segment_deletion,
)

FACT_TABLES: dict[str, tuple[Table, tuple[str, ...]]] = {
    # Enrolments are folded per method; readers make (course, user)'s enrolment of them.
    "enrollment": (enrollment_method, ("source", "course_id", "user_id", "method")),
    "membership": (membership, ("source", "segment_id", "user_id")),
    "link": (link, ("source", "link_id")),
    "enrol_link": (enrol_link, ("source", "link_id")),
}
# The attributes a link's `created` event sets (a `deleted` newest event keeps them).
ATTR_COLS: dict[str, tuple[str, ...]] = {
    "link": ("course_id", "segment_id", "group_id"),
    "enrol_link": ("course_id", "segment_id", "role", "on_leave"),
}
MARK_TABLES: dict[str, tuple[Table, tuple[str, ...]]] = {
    "segment": (segment_deletion, ("source", "segment_id")),
    "group": (group_deletion, ("source", "course_id", "group_id")),
    "course": (course_deletion, ("source", "course_id")),
}


def seen_events(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    rows = by_keys(conn, processed_event, ("source", "event_id"), keys)
    return {(r[0], r[1]) for r in rows}


def mark_processed(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    rows = [{"source": s, "event_id": i} for s, i in sorted(set(keys))]
    upsert(conn, processed_event, rows, ("source", "event_id"))


def load_facts(
    conn: Connection, kind: str, keys: Iterable[tuple[str, ...]]
) -> dict[tuple[str, ...], Fact]:
    table, cols = FACT_TABLES[kind]
    attr_cols = ATTR_COLS.get(kind, ())
    extra = [table.c[c] for c in attr_cols]
    out: dict[tuple[str, ...], Fact] = {}
    n = len(cols)
    for r in by_keys(
        conn, table, cols, keys, table.c.ev_time, table.c.ev_id, table.c.active, *extra
    ):
        attrs = tuple(r[n + 3 :]) if attr_cols and r[n + 3] else None
        out[tuple(r[:n])] = Fact(r[n], r[n + 1], bool(r[n + 2]), attrs)
    return out


def save_facts(conn: Connection, kind: str, facts: dict[tuple[str, ...], Fact]) -> None:
    table, cols = FACT_TABLES[kind]
    base = ["ev_time", "ev_id", "active"]
    attr_cols = ATTR_COLS.get(kind, ())

    def row(key: tuple[str, ...], f: Fact) -> dict[str, Any]:
        r: dict[str, Any] = dict(zip(cols, key, strict=True))
        r.update(ev_time=f.time_us, ev_id=f.event_id, active=f.active)
        if attr_cols:
            r.update(zip(attr_cols, f.attrs or (None,) * len(attr_cols), strict=True))
        return r

    if not attr_cols:
        upsert(conn, table, [row(k, f) for k, f in facts.items()], cols, base)
        return
    # A link's `deleted` event keeps the attributes of its last `created` one.
    created = [row(k, f) for k, f in facts.items() if f.attrs is not None]
    deleted = [row(k, f) for k, f in facts.items() if f.attrs is None]
    upsert(conn, table, created, cols, [*base, *attr_cols])
    upsert(conn, table, deleted, cols, base)


def load_marks(conn: Connection, kind: str, keys: Iterable[tuple[str, ...]]) -> dict[Any, int]:
    table, cols = MARK_TABLES[kind]
    return {tuple(r[:-1]): r[-1] for r in by_keys(conn, table, cols, keys, table.c.at)}


def save_marks(conn: Connection, kind: str, marks: dict[tuple[str, ...], int]) -> None:
    table, cols = MARK_TABLES[kind]
    rows = [{**dict(zip(cols, k, strict=True)), "at": at} for k, at in marks.items()]
    upsert(conn, table, rows, cols, ["at"])
