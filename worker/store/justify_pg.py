"""The justification reads and writes of `justify_repo`, as fixed PostgreSQL statements over
arrays (see `pg`): one statement per call where SQLite needs one per chunk or per link."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from worker.domain.justify import FactState, LinkState
from worker.store.pg import array, rows

Row = tuple[str, str, str, str]  # (link_id, user_id, course_id, group_id)

EXISTING_USERS = (
    "SELECT j.link_id, j.user_id, j.course_id, j.group_id FROM unnest(%s::text[]) AS u(user_id)"
    " JOIN justification j ON j.source = %s AND j.user_id = u.user_id"
    " WHERE j.link_id = ANY(%s::text[])"
)
LINK_STATES = (
    "SELECT l.link_id, l.course_id, l.segment_id, l.group_id, l.active, l.ev_time,"
    " cd.at, sd.at, gd.at FROM link l"
    " LEFT JOIN course_deletion cd ON cd.source = l.source AND cd.course_id = l.course_id"
    " LEFT JOIN segment_deletion sd ON sd.source = l.source AND sd.segment_id = l.segment_id"
    " LEFT JOIN group_deletion gd ON gd.source = l.source AND gd.course_id = l.course_id"
    " AND gd.group_id = l.group_id"
    " WHERE l.source = %s AND l.link_id = ANY(%s::text[])"
)
USER_FACTS = {
    kind: (
        f"SELECT f.{col}, f.user_id, f.active, f.ev_time FROM unnest(%s::text[]) AS u(user_id)"
        f" JOIN {kind} f ON f.source = %s AND f.user_id = u.user_id"
        f" WHERE f.{col} = ANY(%s::text[])"
    )
    for kind, col in (("enrollment", "course_id"), ("membership", "segment_id"))
}
LINKS_TOUCHING = (
    "SELECT link_id, course_id, segment_id FROM link"
    " WHERE source = %s AND (course_id = ANY(%s::text[]) OR segment_id = ANY(%s::text[]))"
)
DELETE_ROWS = (
    "DELETE FROM justification j USING unnest(%s::text[], %s::text[]) AS d(link_id, user_id)"
    " WHERE j.source = %s AND j.link_id = d.link_id AND j.user_id = d.user_id"
)


def existing_users(
    conn: Connection, source: str, link_ids: Sequence[str], users: Sequence[str]
) -> set[Row]:
    got = rows(conn, EXISTING_USERS, (array(sorted(set(users))), source, array(link_ids)))
    return {(r[0], r[1], r[2], r[3]) for r in got}


def link_states(conn: Connection, source: str, link_ids: Sequence[str]) -> dict[str, LinkState]:
    got = rows(conn, LINK_STATES, (source, array(sorted(set(link_ids)))))
    return {
        r[0]: LinkState(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8]) for r in got
    }


def user_facts(
    conn: Connection, kind: str, source: str, users: Sequence[str], scopes: Sequence[str]
) -> dict[tuple[str, str], FactState]:
    got = rows(
        conn, USER_FACTS[kind], (array(sorted(set(users))), source, array(sorted(set(scopes))))
    )
    return {(r[0], r[1]): (bool(r[2]), r[3]) for r in got}


def links_touching(
    conn: Connection, source: str, courses: Sequence[str], segments: Sequence[str]
) -> list[tuple[str, str | None, str | None]]:
    got = rows(conn, LINKS_TOUCHING, (source, array(courses), array(segments)))
    return [(r[0], r[1], r[2]) for r in got]


def delete_rows(conn: Connection, source: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Drop the justification rows of these (link_id, user_id)."""
    conn.exec_driver_sql(
        DELETE_ROWS, (array([a for a, _ in pairs]), array([u for _, u in pairs]), source)
    )
