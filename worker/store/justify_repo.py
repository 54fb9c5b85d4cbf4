"""Set-based SQL over links, facts and justifications: who is justified, who was, which pairs.

"Link L justifies user U" is decided in the pure domain (`worker.domain.justify`) from the
facts read here; this module only reads and writes rows, by index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, or_, select, union
from sqlalchemy.engine import Connection

from worker.domain.candidates import HoldingsReader, UserHoldings
from worker.domain.facts import Fact, enrolment_of
from worker.domain.justify import FactState, LinkState, Row
from worker.ports import PairT, Saved
from worker.store.db import upsert
from worker.store.keys import by_keys, chunks
from worker.store.tables import course_deletion as cd
from worker.store.tables import enrollment_method as e
from worker.store.tables import group_deletion as gd
from worker.store.tables import justification as j
from worker.store.tables import link as lk
from worker.store.tables import membership as m
from worker.store.tables import pair
from worker.store.tables import segment_deletion as sd


def existing(
    conn: Connection, source: str, link_ids: Sequence[str], users: Sequence[str]
) -> set[Row]:
    """The stored justification rows of these links for these users."""
    base = select(j.c.link_id, j.c.user_id, j.c.course_id, j.c.group_id).where(
        j.c.source == source, j.c.link_id.in_(link_ids)
    )
    out: set[Row] = set()
    for part in chunks(sorted(set(users))):  # IN lists of bounded size
        q = base.where(j.c.user_id.in_(part))
        out.update((r[0], r[1], r[2], r[3]) for r in conn.execute(q))
    return out


def link_states(conn: Connection, source: str, link_ids: Sequence[str]) -> dict[str, LinkState]:
    """Each link's newest event with the deletion marks that may kill it, in one query."""
    cols = (lk.c.link_id, lk.c.course_id, lk.c.segment_id, lk.c.group_id, lk.c.active)
    out: dict[str, LinkState] = {}
    for part in chunks(sorted(set(link_ids))):
        q = (
            select(*cols, lk.c.ev_time, cd.c.at, sd.c.at, gd.c.at)
            .select_from(
                lk.outerjoin(cd, and_(cd.c.source == lk.c.source, cd.c.course_id == lk.c.course_id))
                .outerjoin(sd, and_(sd.c.source == lk.c.source, sd.c.segment_id == lk.c.segment_id))
                .outerjoin(
                    gd,
                    and_(
                        gd.c.source == lk.c.source,
                        gd.c.course_id == lk.c.course_id,
                        gd.c.group_id == lk.c.group_id,
                    ),
                )
            )
            .where(lk.c.source == source, lk.c.link_id.in_(part))
        )
        for r in conn.execute(q):
            out[r[0]] = LinkState(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8])
    return out


def user_facts(
    conn: Connection, kind: str, source: str, users: Sequence[str], scopes: Sequence[str]
) -> dict[tuple[str, str], FactState]:
    """(active, time) of these users' enrolments in these courses (kind "enrollment") or
    memberships of these segments (kind "membership"), by (course or segment, user). An
    enrolment is what its methods' rows make of it (`enrolment_of`)."""
    table, col = (e, e.c.course_id) if kind == "enrollment" else (m, m.c.segment_id)
    facts: dict[tuple[str, str], list[Fact]] = {}
    if scopes:
        for part in chunks(sorted(set(users))):
            q = select(col, table.c.user_id, table.c.ev_time, table.c.ev_id, table.c.active)
            q = q.where(
                table.c.source == source, table.c.user_id.in_(part), col.in_(sorted(set(scopes)))
            )
            for scope, user, at, ev_id, active in conn.execute(q):
                facts.setdefault((scope, user), []).append(Fact(at, ev_id, bool(active)))
    # A membership has one row; an enrolment one per method.
    return {k: (f.active, f.time_us) for k, rows in facts.items() if (f := enrolment_of(rows))}


def links_selected(
    conn: Connection,
    source: str,
    links: Iterable[str],
    segments: Iterable[str],
    courses: Iterable[str],
) -> list[tuple[str, str | None, str | None, str | None]]:
    """(link_id, course_id, segment_id, group_id) of these links and of every link on these
    segments or courses, in one query."""
    ls, ss, cs = sorted(set(links)), sorted(set(segments)), sorted(set(courses))
    conds = [
        col.in_(v)
        for col, v in ((lk.c.link_id, ls), (lk.c.segment_id, ss), (lk.c.course_id, cs))
        if v
    ]
    if not conds:
        return []
    q = select(lk.c.link_id, lk.c.course_id, lk.c.segment_id, lk.c.group_id).where(
        lk.c.source == source, or_(*conds)
    )
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(q)]


def justification_counts(
    conn: Connection, source: str, link_ids: Sequence[str], table: Table = j
) -> dict[str, int]:
    """Rows per link in a justification table (group links' by default; the enrolment
    store passes its own, which has the same source/link_id columns)."""
    out: dict[str, int] = {}
    for part in chunks(sorted(set(link_ids))):
        q = (
            select(table.c.link_id, func.count())
            .where(table.c.source == source, table.c.link_id.in_(part))
            .group_by(table.c.link_id)
        )
        out.update({r[0]: int(r[1]) for r in conn.execute(q)})
    return out


def next_users(
    conn: Connection, source: str, link_ids: Sequence[str], after: str | None, limit: int
) -> list[str]:
    """The next `limit` users, in the store's order, whom these links justify or might:
    those with a justification row through them, and those active in a link's course and
    in its segment (no one else can be justified by it). A superset is fine (the recompute
    decides); both sides are ordered index range scans, so paging through 100,000 users
    stays cheap whatever the planner's statistics say."""
    now = select(j.c.user_id).where(j.c.source == source, j.c.link_id.in_(link_ids))
    member = (
        select(m.c.user_id)
        .where(
            m.c.source == e.c.source,
            m.c.segment_id == lk.c.segment_id,
            m.c.user_id == e.c.user_id,
            m.c.active,
        )
        .exists()
    )
    may = (
        select(e.c.user_id)
        .join(lk, and_(lk.c.source == e.c.source, lk.c.course_id == e.c.course_id))
        .where(lk.c.source == source, lk.c.link_id.in_(link_ids), e.c.active, member)
    )
    return users_page(conn, now, j.c.user_id, may, e.c.user_id, after, limit)


def users_page(
    conn: Connection,
    now: Select[tuple[str]],
    now_user: ColumnElement[str],
    may: Select[tuple[str]],
    may_user: ColumnElement[str],
    after: str | None,
    limit: int,
) -> list[str]:
    """The first `limit` users after `after`, in order, of two queries of user ids (those a
    link justifies now, those it may): the group and the enrolment side's paging."""
    if after is not None:
        now, may = now.where(now_user > after), may.where(may_user > after)
    # DISTINCT per side: a user with rows through several links (or enrolments in several
    # courses) must count once, or a short page would look like the last one.
    now = now.distinct().order_by(now_user).limit(limit)
    may = may.distinct().order_by(may_user).limit(limit)
    both = union(now.subquery().select(), may.subquery().select()).subquery()
    q = select(both.c.user_id).order_by(both.c.user_id).limit(limit)
    return [r[0] for r in conn.execute(q)]


def links_touching(
    conn: Connection, source: str, courses: Iterable[str], segments: Iterable[str]
) -> list[tuple[str, str | None, str | None]]:
    """(link_id, course_id, segment_id) of every link on one of these courses or segments
    (`justify_pg.links_touching` is PostgreSQL's)."""
    cs, ss = sorted(set(courses)), sorted(set(segments))
    out: list[tuple[str, str | None, str | None]] = []
    for col, values in ((lk.c.course_id, cs), (lk.c.segment_id, ss)):
        for part in chunks(values):
            q = select(lk.c.link_id, lk.c.course_id, lk.c.segment_id).where(
                lk.c.source == source, col.in_(part)
            )
            out.extend((r[0], r[1], r[2]) for r in conn.execute(q))
    return out


def user_holdings(
    conn: Connection, users: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], UserHoldings]:
    """Per (source, user_id): active enrolments, active memberships and justification rows,
    each read by the user's index."""
    got = HoldingsReader()
    keys = set(users)
    cols = ("source", "user_id")
    for r in by_keys(conn, e, cols, keys, e.c.course_id, e.c.active):
        if r[3]:
            got.courses[(r[0], r[1])].add(r[2])
    for r in by_keys(conn, m, cols, keys, m.c.segment_id, m.c.active):
        if r[3]:
            got.segments[(r[0], r[1])].add(r[2])
    for r in by_keys(conn, j, cols, keys, j.c.link_id, j.c.course_id):
        got.justified[(r[0], r[1])].append((r[2], r[3]))
    return got.holdings()


def delete_rows(conn: Connection, source: str, deletes: set[Row]) -> None:
    """Drop these justification rows (`justify_pg.delete_rows` is PostgreSQL's)."""
    users_of: dict[str, list[str]] = {}
    for link_id, user, _, _ in sorted(deletes):
        users_of.setdefault(link_id, []).append(user)
    for link_id, users in users_of.items():
        for part in chunks(users):
            conn.execute(
                delete(j).where(j.c.source == source, j.c.link_id == link_id, j.c.user_id.in_(part))
            )


def insert_rows(conn: Connection, source: str, inserts: set[Row]) -> None:
    rows = [
        {"source": source, "link_id": a, "user_id": u, "course_id": c, "group_id": g}
        for a, u, c, g in sorted(inserts)
    ]
    upsert(conn, j, rows, ("source", "link_id", "user_id"), ("course_id", "group_id"))


def pair_links(conn: Connection, source: str, pairs: Iterable[PairT]) -> dict[PairT, set[str]]:
    out: dict[PairT, set[str]] = {}
    keys = ((source, c, g, u) for c, g, u in pairs)
    cols = ("source", "course_id", "group_id", "user_id")
    for r in by_keys(conn, j, cols, keys, j.c.link_id):
        out.setdefault((r[1], r[2], r[3]), set()).add(r[4])
    return out


def pair_transitions(
    conn: Connection, source: str, pairs: Iterable[PairT]
) -> dict[PairT, tuple[int, int | None]]:
    """(commands so far, held batch the pair queues behind) per pair that has a history."""
    keys = ((source, c, g, u) for c, g, u in pairs)
    cols = ("source", "course_id", "group_id", "user_id")
    rows = by_keys(conn, pair, cols, keys, pair.c.transitions, pair.c.held_batch)
    return {(r[1], r[2], r[3]): (r[4], r[5]) for r in rows}


SAVED_COLS = ("transitions", "held_batch", "last_reason", "last_caused_by", "last_time")


def save_transitions(conn: Connection, saved: dict[tuple[str, str, str, str], Saved]) -> None:
    """Per (source, course, group, user): the pair's history after its commands, any sites."""
    rows = [
        {
            "source": s,
            "course_id": c,
            "group_id": g,
            "user_id": u,
            **dict(zip(SAVED_COLS, state, strict=True)),
        }
        for (s, c, g, u), state in sorted(saved.items())
    ]
    keys = ("source", "course_id", "group_id", "user_id")
    upsert(conn, pair, rows, keys, SAVED_COLS)
