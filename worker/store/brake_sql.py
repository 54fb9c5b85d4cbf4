"""The mass-removal brake's estimate: how many members each group would lose if these links
stopped justifying them (an upper bound: pairs justified only by these links)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Connection

from worker.domain.updates import Selector
from worker.store.tables import justification as j
from worker.store.tables import link as lk


def estimate(
    conn: Connection, source: str, selector: Selector, link_ids: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """(course, group, would-be removals, current members) per group the links reach."""
    mine = and_(j.c.source == source, j.c.link_id.in_(link_ids))
    if selector[0] == "link":
        # Re-created: only rows whose (course, group) it leaves are at risk.
        row = conn.execute(
            select(lk.c.active, lk.c.course_id, lk.c.group_id).where(
                lk.c.source == source, lk.c.link_id == selector[1]
            )
        ).first()
        if row is not None and row.active:
            mine = and_(mine, or_(j.c.course_id != row.course_id, j.c.group_id != row.group_id))
    other = j.alias("other")
    kept_by_other = (
        select(other.c.user_id)
        .where(
            other.c.source == j.c.source,
            other.c.course_id == j.c.course_id,
            other.c.group_id == j.c.group_id,
            other.c.user_id == j.c.user_id,
            not_(other.c.link_id.in_(link_ids)),
        )
        .exists()
    )
    at_risk = (
        select(j.c.course_id, j.c.group_id, func.count(func.distinct(j.c.user_id)))
        .where(mine, not_(kept_by_other))
        .group_by(j.c.course_id, j.c.group_id)
    )
    out = []
    for course, group, n in conn.execute(at_risk):
        size = conn.execute(
            select(func.count(func.distinct(j.c.user_id))).where(
                j.c.source == source, j.c.course_id == course, j.c.group_id == group
            )
        ).scalar_one()
        out.append((course, group, int(n), int(size)))
    return out
