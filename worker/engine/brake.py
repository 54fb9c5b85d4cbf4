"""The mass-removal brake: before a bulk event runs, estimate how many members it would
remove from each group; past the configured limits its removals are held for an operator
(`segsync held / release / discard`) instead of being published.

Limits (settings): more than `max_removals` members of one group, or at least
`min_removals` members and more than `max_share` of the group. 0 disables a limit.
The estimate counts the pairs justified only by the event's links (for a link re-created
elsewhere, only the rows it moves away): an upper bound of what the event removes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Connection

from worker.domain.transitions import Cause
from worker.domain.updates import Selector
from worker.store import held_repo
from worker.store.tables import justification as j
from worker.store.tables import link as lk

BRAKED_TYPES = {
    "lms.segment_group_link.created",
    "lms.segment_group_link.deleted",
    "lms.segment.deleted",
    "lms.group.deleted",
    "lms.course.deleted",
}


@dataclass(frozen=True, slots=True)
class BrakeLimits:
    max_removals: int = 500
    max_share: float = 0.5
    min_removals: int = 50

    def floor(self) -> int:
        """The fewest removals that could trip a limit: below it no estimate is needed."""
        floors = []
        if self.max_removals:
            floors.append(self.max_removals + 1)
        if self.max_share:
            floors.append(max(self.min_removals, 1))
        return min(floors) if floors else 2**62

    def exceeded(self, removals: int, size: int) -> bool:
        if self.max_removals and removals > self.max_removals:
            return True
        return bool(
            self.max_share
            and size
            and removals >= max(self.min_removals, 1)
            and removals > self.max_share * size
        )


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


def hold_for(
    conn: Connection,
    source: str,
    selector: Selector,
    link_ids: Sequence[str],
    cause: Cause,
    limits: BrakeLimits | None,
) -> int | None:
    """The held batch this bulk event's removals go to, or None to publish them."""
    if limits is None or cause.event_type not in BRAKED_TYPES:
        return None
    over = [
        (c, g, n, size)
        for c, g, n, size in estimate(conn, source, selector, link_ids)
        if limits.exceeded(n, size)
    ]
    if not over:
        return None
    detail = "; ".join(f"course {c} group {g}: {n} of {size} members" for c, g, n, size in over)
    return held_repo.open_batch(conn, source, cause.event_id, cause.event_type, detail)
