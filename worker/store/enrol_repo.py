"""Segment sync enrolment in the store: enrol links, their justifications, (course, user)
pairs. Portable SQL by index (the rule itself is `worker.domain.enrol.enrol_justified`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, func, not_, select, union, update
from sqlalchemy.engine import Connection

from worker.domain.enrol import EnrolLinkState
from worker.ports import ELinkRow, EPair, ERow, Saved
from worker.store import justify_repo as jr
from worker.store.db import upsert
from worker.store.justify_repo import SAVED_COLS
from worker.store.keys import by_keys, chunks
from worker.store.tables import course_deletion as cd
from worker.store.tables import enrol_justification as ej
from worker.store.tables import enrol_link as el
from worker.store.tables import enrol_pair as ep
from worker.store.tables import membership as m
from worker.store.tables import segment_deletion as sd

__all__ = ["ELinkRow", "EPair", "ERow"]  # the port's types, named here too


def links_selected(
    conn: Connection,
    source: str,
    links: Iterable[str],
    segments: Iterable[str],
    courses: Iterable[str],
) -> list[ELinkRow]:
    """(link_id, course_id, segment_id) of these enrol links and of every enrol link on
    these segments or courses."""
    ls, ss, cs = sorted(set(links)), sorted(set(segments)), sorted(set(courses))
    out: list[ELinkRow] = []
    for col, values in ((el.c.link_id, ls), (el.c.segment_id, ss), (el.c.course_id, cs)):
        for part in chunks(values):
            q = select(el.c.link_id, el.c.course_id, el.c.segment_id).where(
                el.c.source == source, col.in_(part)
            )
            out.extend((r[0], r[1], r[2]) for r in conn.execute(q))
    return sorted(set(out), key=lambda r: r[0])


def link_states(
    conn: Connection, source: str, link_ids: Sequence[str]
) -> dict[str, EnrolLinkState]:
    """Each enrol link's newest event with the course and segment deletion marks."""
    out: dict[str, EnrolLinkState] = {}
    cols = (el.c.link_id, el.c.course_id, el.c.segment_id, el.c.role, el.c.on_leave)
    for part in chunks(sorted(set(link_ids))):
        q = (
            select(*cols, el.c.active, el.c.ev_time, cd.c.at, sd.c.at)
            .select_from(
                el.outerjoin(
                    cd, and_(cd.c.source == el.c.source, cd.c.course_id == el.c.course_id)
                ).outerjoin(
                    sd, and_(sd.c.source == el.c.source, sd.c.segment_id == el.c.segment_id)
                )
            )
            .where(el.c.source == source, el.c.link_id.in_(part))
        )
        for r in conn.execute(q):
            out[r[0]] = EnrolLinkState(
                r[0], r[1], r[2], r[3] or "", r[4] or "unenrol", bool(r[5]), r[6], r[7], r[8]
            )
    return out


def existing(
    conn: Connection, source: str, link_ids: Sequence[str], users: Sequence[str]
) -> set[ERow]:
    out: set[ERow] = set()
    base = select(ej.c.link_id, ej.c.user_id, ej.c.course_id).where(ej.c.source == source)
    for lpart in chunks(sorted(set(link_ids))):
        for upart in chunks(sorted(set(users))):
            q = base.where(ej.c.link_id.in_(lpart), ej.c.user_id.in_(upart))
            out.update((r[0], r[1], r[2]) for r in conn.execute(q))
    return out


def rows_of_users(conn: Connection, source: str, users: Sequence[str]) -> set[ERow]:
    """Every enrol justification row of these users (index by user)."""
    out: set[ERow] = set()
    for part in chunks(sorted(set(users))):
        q = select(ej.c.link_id, ej.c.user_id, ej.c.course_id).where(
            ej.c.source == source, ej.c.user_id.in_(part)
        )
        out.update((r[0], r[1], r[2]) for r in conn.execute(q))
    return out


def next_users(
    conn: Connection, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    """The next `limit` users, in order, whom these enrol links justify or might: those with
    a row through them and every member row of their segments (a superset is fine)."""
    segs = select(el.c.segment_id).where(el.c.source == source, el.c.link_id.in_(link_ids))
    now = select(ej.c.user_id).where(ej.c.source == source, ej.c.link_id.in_(link_ids))
    may = select(m.c.user_id).where(
        m.c.source == source, m.c.segment_id.in_(segs.scalar_subquery())
    )
    return jr.users_page(conn, now, ej.c.user_id, may, m.c.user_id, after, limit)


def insert_rows(conn: Connection, inserts: Mapping[str, set[ERow]]) -> None:
    """Enrol justification rows of any sites, one statement (an upsert by key)."""
    rows = [
        {"source": s, "link_id": a, "user_id": u, "course_id": c}
        for s, site_rows in sorted(inserts.items())
        for a, u, c in sorted(site_rows)
    ]
    upsert(conn, ej, rows, ("source", "link_id", "user_id"), ("course_id",))


def apply_diff(conn: Connection, source: str, inserts: set[ERow], deletes: set[ERow]) -> None:
    users_of: dict[str, list[str]] = {}
    for link_id, user, _ in sorted(deletes):
        users_of.setdefault(link_id, []).append(user)
    for link_id, users in users_of.items():
        for part in chunks(users):
            conn.execute(
                delete(ej).where(
                    ej.c.source == source, ej.c.link_id == link_id, ej.c.user_id.in_(part)
                )
            )
    insert_rows(conn, {source: inserts})


def pair_links(conn: Connection, source: str, pairs: Iterable[EPair]) -> dict[EPair, set[str]]:
    out: dict[EPair, set[str]] = {}
    keys = ((source, c, u) for c, u in pairs)
    for r in by_keys(conn, ej, ("source", "course_id", "user_id"), keys, ej.c.link_id):
        out.setdefault((r[1], r[2]), set()).add(r[3])
    return out


def pair_transitions(
    conn: Connection, source: str, pairs: Iterable[EPair]
) -> dict[EPair, tuple[int, int | None]]:
    keys = ((source, c, u) for c, u in pairs)
    cols = ("source", "course_id", "user_id")
    rows = by_keys(conn, ep, cols, keys, ep.c.transitions, ep.c.held_batch)
    return {(r[1], r[2]): (r[3], r[4]) for r in rows}


def save_transitions(conn: Connection, saved: dict[tuple[str, str, str], Saved]) -> None:
    """Per (source, course, user): the pair's history after its commands, any sites."""
    rows = [
        {"source": s, "course_id": c, "user_id": u, **dict(zip(SAVED_COLS, st, strict=True))}
        for (s, c, u), st in sorted(saved.items())
    ]
    upsert(conn, ep, rows, ("source", "course_id", "user_id"), SAVED_COLS)


def release_pairs(conn: Connection, batch_id: int) -> None:
    """A held batch was released or discarded: its pairs stop queueing behind it."""
    conn.execute(update(ep).where(ep.c.held_batch == batch_id).values(held_batch=None))


def justification_counts(conn: Connection, source: str, link_ids: Sequence[str]) -> dict[str, int]:
    return jr.justification_counts(conn, source, link_ids, table=ej)


def unenrol_estimate(
    conn: Connection, source: str, link_ids: Sequence[str], keep_course: str | None
) -> list[tuple[str, int, int]]:
    """(course, would-be unenrols, users segment sync enrols there) per course these links
    reach: users held only by these links (for a link re-created on `keep_course`, none
    there). An upper bound, as for group removals."""
    mine = and_(ej.c.source == source, ej.c.link_id.in_(link_ids))
    if keep_course is not None:
        mine = and_(mine, ej.c.course_id != keep_course)
    other = ej.alias("other")
    kept = (
        select(other.c.user_id)
        .where(
            other.c.source == ej.c.source,
            other.c.course_id == ej.c.course_id,
            other.c.user_id == ej.c.user_id,
            not_(other.c.link_id.in_(link_ids)),
        )
        .exists()
    )
    q = (
        select(ej.c.course_id, func.count(func.distinct(ej.c.user_id)))
        .where(mine, not_(kept))
        .group_by(ej.c.course_id)
    )
    out = []
    for course, n in conn.execute(q).all():
        size = conn.execute(
            select(func.count(func.distinct(ej.c.user_id))).where(
                ej.c.source == source, ej.c.course_id == course
            )
        ).scalar_one()
        out.append((course, int(n), int(size)))
    return out


def link_course(conn: Connection, source: str, link_id: str) -> tuple[bool, str | None] | None:
    row = conn.execute(
        select(el.c.active, el.c.course_id).where(el.c.source == source, el.c.link_id == link_id)
    ).first()
    return None if row is None else (bool(row[0]), row[1])


def linked_sites(conn: Connection, sources: Iterable[str]) -> set[str]:
    """Those of these sites that have any enrol link at all (most have none: skip the work).
    One statement for a batch's sites: a site has a few enrol links, read by the primary key."""
    wanted = sorted(set(sources))
    if not wanted:
        return set()
    q = select(el.c.source).where(el.c.source.in_(wanted)).distinct()
    return {r[0] for r in conn.execute(q)}


def managed_courses(conn: Connection, source: str) -> set[str]:
    """The course of some enrol link, or a course segsync ever sent an enrolment command for."""
    q = union(
        select(el.c.course_id).where(el.c.source == source, el.c.course_id.is_not(None)),
        select(ep.c.course_id).where(ep.c.source == source),
    )
    return {r[0] for r in conn.execute(q)}


def desired_enrolments(conn: Connection, source: str) -> list[EPair]:
    """The pairs whose number of enrolment commands is odd: what the LMS was told."""
    q = select(ep.c.course_id, ep.c.user_id).where(ep.c.source == source, ep.c.transitions % 2 == 1)
    return [(r[0], r[1]) for r in conn.execute(q)]


def resync_attrs(
    conn: Connection, source: str, pairs: Sequence[EPair]
) -> dict[EPair, tuple[list[str], list[str], str]]:
    """(justifying links, their roles, on_leave) per pair for a resync command: on_leave is
    `suspend` when an enrol link of the course says so."""
    links = pair_links(conn, source, pairs)
    rows = links_selected(conn, source, (), (), {c for c, _ in pairs})
    states = link_states(
        conn, source, [r[0] for r in rows] + [a for v in links.values() for a in v]
    )
    suspend = {s.course_id for s in states.values() if s.on_leave == "suspend"}
    out: dict[EPair, tuple[list[str], list[str], str]] = {}
    for p in pairs:
        ids = sorted(links.get(p, ()))
        roles = sorted({states[a].role for a in ids if a in states})
        out[p] = (ids, roles, "suspend" if p[0] in suspend else "unenrol")
    return out
