"""`segsync why`: everything the store knows about one user, read by index (user first, then
the courses and segments that user touches), so one user answers fast in any size of store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from worker.store.keys import chunks
from worker.store.tables import course_deletion as cd
from worker.store.tables import enrol_justification as ej
from worker.store.tables import enrol_link as el
from worker.store.tables import enrol_pair as ep
from worker.store.tables import enrollment_method as em
from worker.store.tables import group_deletion as gd
from worker.store.tables import justification as j
from worker.store.tables import link as lk
from worker.store.tables import membership as m
from worker.store.tables import pair
from worker.store.tables import segment_deletion as sd

Row = dict[str, Any]


def _rows(conn: Connection, table: Table, source: str, user: str, course: str | None) -> list[Row]:
    q = select(table).where(table.c.source == source, table.c.user_id == user)
    if course is not None and "course_id" in table.c:
        q = q.where(table.c.course_id == course)
    return [dict(r._mapping) for r in conn.execute(q)]


def _by(conn: Connection, table: Table, col: str, source: str, values: Iterable[str]) -> list[Row]:
    out: list[Row] = []
    for part in chunks(sorted(set(values))):
        q = select(table).where(table.c.source == source, table.c[col].in_(part))
        out.extend(dict(r._mapping) for r in conn.execute(q))
    return out


def _marks(conn: Connection, table: Table, col: str, source: str, values: Sequence[str]) -> Row:
    return {r[col]: r["at"] for r in _by(conn, table, col, source, values)}


def read_user(conn: Connection, source: str, user: str, course: str | None) -> dict[str, Any]:
    """The raw rows: enrolments per method, memberships, the links of both kinds on the
    user's courses and segments, justifications, pairs, and the deletion marks they need."""
    enrolments = _rows(conn, em, source, user, course)
    memberships = _rows(conn, m, source, user, None)
    courses = {r["course_id"] for r in enrolments} | ({course} if course else set())
    segments = {r["segment_id"] for r in memberships}
    justified = _rows(conn, j, source, user, course)
    enrol_justified = _rows(conn, ej, source, user, course)
    group_pairs = _rows(conn, pair, source, user, course)
    enrol_pairs = _rows(conn, ep, source, user, course)
    courses |= {r["course_id"] for r in (*justified, *enrol_justified, *group_pairs, *enrol_pairs)}
    links = {r["link_id"]: r for r in _by(conn, lk, "course_id", source, courses)}
    links.update((r["link_id"], r) for r in _by(conn, lk, "segment_id", source, segments))
    links.update(
        (r["link_id"], r)
        for r in _by(conn, lk, "link_id", source, (r["link_id"] for r in justified))
    )
    enrol_links = {r["link_id"]: r for r in _by(conn, el, "segment_id", source, segments)}
    enrol_links.update((r["link_id"], r) for r in _by(conn, el, "course_id", source, courses))
    if course is not None:
        links = {k: v for k, v in links.items() if v["course_id"] == course}
        enrol_links = {k: v for k, v in enrol_links.items() if v["course_id"] == course}
    all_courses = sorted(
        courses
        | {r["course_id"] for r in (*links.values(), *enrol_links.values()) if r["course_id"]}
    )
    all_segments = sorted(
        segments
        | {r["segment_id"] for r in (*links.values(), *enrol_links.values()) if r["segment_id"]}
    )
    group_marks = {}
    for r in _by(conn, gd, "course_id", source, all_courses):
        group_marks[(r["course_id"], r["group_id"])] = r["at"]
    return {
        "enrolments": enrolments,
        "memberships": memberships,
        "links": sorted(links.values(), key=lambda r: r["link_id"]),
        "enrol_links": sorted(enrol_links.values(), key=lambda r: r["link_id"]),
        "justified": justified,
        "enrol_justified": enrol_justified,
        "group_pairs": group_pairs,
        "enrol_pairs": enrol_pairs,
        "course_deleted": _marks(conn, cd, "course_id", source, all_courses),
        "segment_deleted": _marks(conn, sd, "segment_id", source, all_segments),
        "group_deleted": group_marks,
    }
